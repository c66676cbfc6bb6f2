import type { Codec } from "@hubcast/protocol";
import { buildFrame } from "./transport/frame.js";

/** What fan-out needs of a connection. */
export interface Subscriber {
  readonly codec: Codec;
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

/** Writes one payload to many subscribers: encoded once per codec in use, framed once, counted once. */
export function writeToAll(subscribers: Iterable<Subscriber>, encode: (codec: Codec) => Uint8Array, sent: SentCounter): void {
  let codec: Codec | undefined;
  let frame: Buffer | undefined;
  let others: Map<Codec, Buffer> | undefined;
  let recipients = 0;
  let bytes = 0;
  for (const sub of subscribers) {
    if (sub.codec !== codec) {
      if (codec !== undefined && frame !== undefined) (others ??= new Map()).set(codec, frame);
      codec = sub.codec;
      frame = others?.get(codec) ?? buildFrame(encode(codec), codec.binary);
    }
    sub.writeFrame(frame as Buffer);
    recipients += 1;
    bytes += (frame as Buffer).length;
  }
  sent(recipients, bytes);
}
