import type { Codec } from "@hubcast/protocol";
import type { CloseInfo } from "./errors.js";

/**
 * What carries a link's frames to the node and back: a WebSocket today; HTTP-streaming and
 * SSE with commands sent by POST next, for networks that break WebSockets. A carrier knows
 * nothing of the protocol: it moves whole frames in the codec's encoding, and reports what
 * happens to the connection.
 */
export interface Carrier {
  /** Sends one frame; frames sent after the carrier closed are dropped. */
  send(frame: string | Uint8Array): void;
  /** Closes with `code` (1000: a normal close) and calls no handler afterwards. Idempotent. */
  close(code: number, reason: string): void;
}

/** What a {@link Carrier} reports to its link. None is called after {@link Carrier.close}. */
export interface CarrierEvents {
  onOpen(): void;
  /** One whole frame from the node, as the codec decodes it. */
  onFrame(frame: string | Uint8Array): void;
  /** The connection closed (peer, network, or a failed open). */
  onClose(close: CloseInfo): void;
  /** A connection error, or a message the carrier cannot read; `onClose` follows if it ended the connection. */
  onError(error: Error): void;
}

/** Opens a carrier to `url` speaking `codec`; throws when it cannot even start (a bad URL). */
export type CarrierFactory = (url: string, codec: Codec, events: CarrierEvents) => Carrier;
