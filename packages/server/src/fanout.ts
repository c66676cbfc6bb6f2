import type { PushEncoder } from "./codec.js";
import type { Framer } from "./transport/transport.js";

/** What fan-out needs of a connection. */
export interface Subscriber {
  /** The connection id, unique across the cluster (what a fan-out may be told to skip). */
  readonly id: string;
  readonly codec: PushEncoder;
  /** How its transport frames a payload; subscribers with the same framer object get the same bytes. */
  readonly framer: Framer;
  /** Writes a complete frame built by its {@link framer}; never throws. */
  writeFrame(frame: Buffer): void;
  /**
   * The Hub could not keep this subscription whole (publications lost between nodes and not
   * in history). The subscriber must tell its client to resubscribe and drop the subscription.
   */
  resubscribeRequired(channel: string): void;
}

/** Counts a fan-out once: how many connections it wrote to and how many bytes in all. */
export type SentCounter = (recipients: number, bytes: number) => void;

/** A {@link SentCounter} that counts nothing (for Hubs without metrics). */
export const NOT_COUNTED: SentCounter = () => undefined;

/**
 * Writes one payload to many subscribers: encoded once per codec in use, framed once per
 * (codec, framer) in use (a WebSocket frame, a compressed one, an SSE event), and counted
 * once (bytes as written). The work per subscriber is two identity checks and a write,
 * whatever the transports, plus one comparison when `except` names a connection to skip (the
 * Pusher protocol's sender of a client event, or an API call's `socket_id`).
 */
export function writeToAll(
  subscribers: Iterable<Subscriber>,
  encode: (codec: PushEncoder) => Uint8Array,
  sent: SentCounter,
  except?: string,
): void {
  let current: Encoded | undefined;
  let others: Map<PushEncoder, Encoded> | undefined;
  let recipients = 0;
  let bytes = 0;
  for (const sub of subscribers) {
    if (except !== undefined && sub.id === except) continue;
    if (sub.codec !== current?.codec) {
      if (current !== undefined) {
        others ??= new Map();
        others.set(current.codec, current);
      }
      current = others?.get(sub.codec) ?? new Encoded(sub.codec, encode(sub.codec));
    }
    const frame = current.frame(sub.framer);
    sub.writeFrame(frame);
    recipients += 1;
    bytes += frame.length;
  }
  sent(recipients, bytes);
}

/**
 * One codec's encoding of a payload and its frames, each built on first use. Most fan-outs
 * have one framer (every subscriber on plain WebSocket), kept in two fields; others go to a map.
 */
class Encoded {
  private firstFramer: Framer | undefined;
  private firstFrame: Buffer | undefined;
  private otherFrames: Map<Framer, Buffer> | undefined;

  constructor(
    readonly codec: PushEncoder,
    private readonly payload: Uint8Array,
  ) {}

  frame(framer: Framer): Buffer {
    if (framer === this.firstFramer && this.firstFrame !== undefined) return this.firstFrame;
    if (this.firstFramer === undefined) {
      this.firstFramer = framer;
      this.firstFrame = framer.frame(this.payload, this.codec.binary);
      return this.firstFrame;
    }
    this.otherFrames ??= new Map();
    let frame = this.otherFrames.get(framer);
    if (frame === undefined) {
      frame = framer.frame(this.payload, this.codec.binary);
      this.otherFrames.set(framer, frame);
    }
    return frame;
  }
}
