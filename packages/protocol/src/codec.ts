import type { ClientInfo, Command, Push, Reply, ServerFrame, Subprotocol } from "./frames.js";
import type { DataLimits } from "./data-limits.js";
import type { ClientFrame } from "./validate.js";

/**
 * A publication as it travels inside the server and between nodes: data already encoded
 * (UTF-8 JSON text for protocol v1), so it is never parsed again on the way to subscribers.
 */
export interface RawPublication {
  channel: string;
  data: Uint8Array;
  offset?: number;
  /** The epoch the offset belongs to. Used between nodes to detect lost history; never sent to clients. */
  epoch?: string;
  info?: ClientInfo;
  /**
   * True: `data` is a fossil delta against the previous publication of the channel that this
   * node sent, not the data itself. Set only by a node's fan-out, for subscribers that asked
   * for deltas; never stored, never sent between nodes.
   */
  delta?: boolean;
}

/**
 * One wire encoding, chosen per connection by WebSocket subprotocol. Server-side methods
 * return bytes ready to frame; client-side methods return what `WebSocket.send` takes.
 */
export interface Codec {
  readonly subprotocol: Subprotocol;
  /** Binary frames (true) or text frames (false). */
  readonly binary: boolean;

  /**
   * Server: parse one frame from a client. Never throws. A `publish` whose data breaks
   * `limits` (nesting deeper than `maxDataDepth`) is `invalid` with 107 `bad_request`, so a
   * returned publish always holds data `JSON.stringify` can encode.
   * @default limits `{ maxDataDepth: MAX_DATA_DEPTH }`
   */
  decodeClientFrame(data: Uint8Array | string, limits?: DataLimits): ClientFrame;
  encodeReply(reply: Reply): Uint8Array;
  encodePush(push: Push): Uint8Array;
  /** Server hot path: the publication push, built once and written to every subscriber. */
  encodePublication(pub: RawPublication): Uint8Array;

  /** Client: encode a command. */
  encodeCommand(command: Command): string | Uint8Array;
  /** Client: the answer to a `ping` push. */
  encodePong(): string | Uint8Array;
  /** Client: parse one frame from the server. Throws {@link ProtocolDecodeError} on garbage. */
  decodeServerFrame(data: string | Uint8Array): ServerFrame;
}

/** The server sent something this SDK cannot read. */
export class ProtocolDecodeError extends Error {
  override readonly name = "ProtocolDecodeError";
}
