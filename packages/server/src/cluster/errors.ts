/** A relay request got no reply within its timeout (the primary is stuck or gone). */
export class RelayTimeoutError extends Error {
  override readonly name = "RelayTimeoutError";
  readonly code = "RELAY_TIMEOUT";
}

/** The relay link is closed: the primary went away, or the engine was closed. */
export class RelayClosedError extends Error {
  override readonly name = "RelayClosedError";
  readonly code = "RELAY_CLOSED";
}

/** The primary ran a relayed operation and it failed there; the message is the primary's. */
export class RelayCallError extends Error {
  override readonly name = "RelayCallError";
  readonly code = "RELAY_FAILED";
}
