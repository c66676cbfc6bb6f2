import type { Codec } from "@hubcast/protocol";
import type { MessageDeflater } from "./transport/deflate.js";
import { buildFrame } from "./transport/frame.js";

/** What fan-out needs of a connection. */
export interface Subscriber {
  readonly codec: Codec;
  /**
   * The node's deflater when this connection negotiated permessage-deflate (without context
   * takeover), so it may receive compressed frames; `undefined` (or absent) otherwise.
   */
  readonly deflater?: MessageDeflater | undefined;
  /** Writes a complete WebSocket frame; never throws. */
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
 * variant (plain, and compressed for subscribers with a deflater), deflated at most once per
 * codec, counted once (bytes as written, compressed or not). Subscribers of one call share
 * one deflater, the node's.
 */
export function writeToAll(
  subscribers: Iterable<Subscriber>,
  encode: (codec: Codec) => Uint8Array,
  sent: SentCounter,
): void {
  let current: Encoded | undefined;
  let others: Map<Codec, Encoded> | undefined;
  let recipients = 0;
  let bytes = 0;
  for (const sub of subscribers) {
    if (sub.codec !== current?.codec) {
      if (current !== undefined) {
        others ??= new Map();
        others.set(current.codec, current);
      }
      current = others?.get(sub.codec) ?? new Encoded(sub.codec, encode(sub.codec));
    }
    const frame = current.frame(sub.deflater);
    sub.writeFrame(frame);
    recipients += 1;
    bytes += frame.length;
  }
  sent(recipients, bytes);
}

/** One codec's encoding of a payload and its frames, each built on first use. */
class Encoded {
  private plain: Buffer | undefined;
  /** `null`: the payload goes uncompressed to every subscriber (below the threshold, or incompressible). */
  private compressed: Buffer | null | undefined;

  constructor(
    readonly codec: Codec,
    private readonly payload: Uint8Array,
  ) {}

  frame(deflater: MessageDeflater | undefined): Buffer {
    if (deflater !== undefined) {
      if (this.compressed === undefined) this.compressed = deflater.frame(this.payload, this.codec.binary) ?? null;
      if (this.compressed !== null) return this.compressed;
    }
    this.plain ??= buildFrame(this.payload, this.codec.binary);
    return this.plain;
  }
}
