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

/** One fan-out: a payload for many subscribers, and optionally a second version of it for some of them. */
export interface Fanout {
  subscribers: Iterable<Subscriber>;
  /** The payload in a codec's encoding; called at most once per codec in use. */
  encode: (codec: PushEncoder) => Uint8Array;
  sent: SentCounter;
  /** The id of a connection to skip (the Pusher protocol's sender of a client event, an API call's `socket_id`). */
  except?: string;
  /** Subscribers in `alternative.for` get this payload instead (a delta, for those holding its base); encoded once per codec too. */
  alternative?: { readonly for: ReadonlySet<Subscriber>; readonly encode: (codec: PushEncoder) => Uint8Array };
}

/**
 * Writes one payload to many subscribers: encoded once per codec in use, framed once per
 * (codec, framer) in use (a WebSocket frame, a compressed one, an SSE event), and counted
 * once (bytes as written). The work per subscriber is two identity checks and a write,
 * whatever the transports, plus one comparison when `except` names a connection to skip (the
 * Pusher protocol's sender of a client event, or an API call's `socket_id`). With an
 * alternative payload, a subscriber in `alternative.for` costs one set lookup more, and each
 * version is still encoded once per codec and framed once per framer.
 */
export function writeFanout(fanout: Fanout): void {
  const { except, sent } = fanout;
  const full = new Encodings(fanout.encode);
  const alternative = fanout.alternative === undefined ? undefined : new Encodings(fanout.alternative.encode);
  const chosen = fanout.alternative?.for;
  let recipients = 0;
  let bytes = 0;
  for (const sub of fanout.subscribers) {
    if (except !== undefined && sub.id === except) continue;
    const encodings = alternative !== undefined && chosen?.has(sub) === true ? alternative : full;
    const frame = encodings.of(sub.codec).frame(sub.framer);
    sub.writeFrame(frame);
    recipients += 1;
    bytes += frame.length;
  }
  sent(recipients, bytes);
}

/**
 * One payload's encodings, each made on first use. Most fan-outs see one codec (every
 * subscriber speaks JSON), kept in a field; others go to a map.
 */
class Encodings {
  private current: Encoded | undefined;
  private others: Map<PushEncoder, Encoded> | undefined;

  constructor(private readonly encode: (codec: PushEncoder) => Uint8Array) {}

  of(codec: PushEncoder): Encoded {
    if (codec === this.current?.codec) return this.current;
    if (this.current !== undefined) {
      this.others ??= new Map();
      this.others.set(this.current.codec, this.current);
    }
    this.current = this.others?.get(codec) ?? new Encoded(codec, this.encode(codec));
    return this.current;
  }
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
