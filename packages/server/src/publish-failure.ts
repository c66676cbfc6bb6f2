/** How a publish that did not succeed ended, for the caller to answer: each has its own code. */
export const PublishFailureKind = {
  /** No answer in time, or the link failed with the command sent: maybe made, never later. */
  outcomeUnknown: "outcome_unknown",
  /** The engine refused it for its deadline: not made. */
  expired: "expired",
  /** The engine failed before making it (unreachable, error reply): not made. */
  failed: "failed",
} as const;
export type PublishFailureKind = (typeof PublishFailureKind)[keyof typeof PublishFailureKind];

/** A publish from a client or the server API that did not succeed; the cause is logged (rate-limited). */
export class PublishFailure extends Error {
  override readonly name = "PublishFailure";
  constructor(
    readonly kind: PublishFailureKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
