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

/** Writes one payload to many subscribers: encoded once per codec in use, framed once. */
export function writeToAll(subscribers: Iterable<Subscriber>, encode: (codec: Codec) => Uint8Array): void {
  let codec: Codec | undefined;
  let frame: Buffer | undefined;
  let others: Map<Codec, Buffer> | undefined;
  for (const sub of subscribers) {
    if (sub.codec !== codec) {
      if (codec !== undefined && frame !== undefined) (others ??= new Map()).set(codec, frame);
      codec = sub.codec;
      frame = others?.get(codec) ?? buildFrame(encode(codec), codec.binary);
    }
    sub.writeFrame(frame as Buffer);
  }
}
