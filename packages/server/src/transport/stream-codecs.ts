import type { Push, RawPublication, StreamPosition } from "@hubcast/protocol";
import { encodeJsonData } from "@hubcast/protocol";
import type { SessionCodec } from "../codec.js";
import type { Framer } from "./transport.js";

const encoder = new TextEncoder();
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;

/** What a one-way stream tells its client when a subscription starts. */
export interface SubscribedEvent {
  channel: string;
  /** Whether the channel keeps history, so a later `since` can recover from this stream's positions. */
  recoverable: boolean;
  /** Where the channel stands now; absent without history. */
  position?: StreamPosition;
  /** Present when the stream asked to resume (`since`, `Last-Event-ID`): whether every missed publication follows. */
  recovered?: boolean;
}

/**
 * The encoding of a one-way stream: the pushes and publications every session has, plus what
 * only a stream says, its opening (`prelude`) and the start of each subscription. Its output is
 * the whole event, so the framer is {@link identityFramer}.
 */
export interface StreamCodec extends SessionCodec {
  /** The first bytes of the stream, before any event; `retryMs`: how long an SSE client waits before reconnecting. */
  prelude(retryMs: number): Buffer;
  encodeSubscribed(event: SubscribedEvent): Uint8Array;
}

/** The framer of one-way streams: the codec's output is already the whole event (or line). */
export const identityFramer: Framer = {
  frame(payload: Uint8Array): Buffer {
    return Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  },
};

/**
 * Publication data as one line: valid JSON holds line breaks only as whitespace between tokens
 * (inside strings they are escaped), so they become spaces. Data published as JSON bytes
 * (Protobuf clients, the Redis emitter) may be pretty-printed; a line break would end the event.
 */
function oneLine(data: Uint8Array): Uint8Array {
  if (data.indexOf(LF) === -1 && data.indexOf(CR) === -1) return data;
  return data.map((byte) => (byte === LF || byte === CR ? SPACE : byte));
}

/** `{"type"?,"channel","offset"?,"epoch"?,"info"?,"data":<bytes as published>}`, built without parsing the data. */
function publicationJson(pub: RawPublication, type: boolean): Uint8Array[] {
  let head = type
    ? `{"type":"publication","channel":${JSON.stringify(pub.channel)}`
    : `{"channel":${JSON.stringify(pub.channel)}`;
  if (pub.offset !== undefined) head += `,"offset":${pub.offset}`;
  if (pub.epoch !== undefined) head += `,"epoch":${JSON.stringify(pub.epoch)}`;
  if (pub.info !== undefined) head += `,"info":${JSON.stringify(pub.info)}`;
  head += `,"data":`;
  return [encoder.encode(head), oneLine(pub.data)];
}

function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** The raw form of a `publication` push (its data decoded), for encodings that write raw publications. */
function rawOf(push: Extract<Push, { type: "publication" }>): RawPublication {
  const { channel, data, offset, info } = push.body;
  const raw: RawPublication = { channel, data: encodeJsonData(data) };
  if (offset !== undefined) raw.offset = offset;
  if (info !== undefined) raw.info = info;
  return raw;
}

/**
 * Server-Sent Events (`GET /sse`). Each publication is a `message` event (so `onmessage`
 * fires) whose data is `{"channel","offset"?,"epoch"?,"info"?,"data"}`; other pushes are named
 * events (`join`, `leave`, `unsubscribe`, `disconnect`, `subscribed`) whose data is their body;
 * the keepalive is a comment line.
 *
 * Positions for the browser's own resume (`Last-Event-ID`): on a stream of `one` channel, a
 * publication's (and the `subscribed` event's) id is its position `<epoch>:<offset>`. On a
 * stream of `many` channels, the event starts with a position mark instead, a comment line
 * `:@<channel as JSON> <epoch>:<offset>` that an EventSource ignores, and the connection's own
 * {@link SseCursorFramer} turns it into an id holding every channel's position.
 */
export class SseCodec implements StreamCodec {
  readonly binary = false;

  constructor(private readonly channels: "one" | "many") {}

  prelude(retryMs: number): Buffer {
    // The comment makes proxies and the browser see the stream open at once.
    return Buffer.from(`retry: ${Math.round(retryMs)}\n: hubcast\n\n`);
  }

  encodePublication(pub: RawPublication): Uint8Array {
    const position =
      pub.offset !== undefined && pub.epoch !== undefined ? { epoch: pub.epoch, offset: pub.offset } : undefined;
    const head = `${this.positionLine(pub.channel, position)}data: `;
    return concat([encoder.encode(head), ...publicationJson(pub, false), SSE_END_OF_PUBLICATION]);
  }

  /** The id line (one channel) or the position mark (several) for `channel` at `position`; `""` without one. */
  private positionLine(channel: string, position: StreamPosition | undefined): string {
    if (position === undefined) return "";
    const at = `${position.epoch}:${position.offset}`;
    return this.channels === "one" ? `id: ${at}\n` : `${POSITION_MARK}${JSON.stringify(channel)} ${at}\n`;
  }

  encodePush(push: Push): Uint8Array {
    if (push.type === "publication") return this.encodePublication(rawOf(push));
    if (push.type === "ping") return SSE_KEEPALIVE;
    return encoder.encode(`event: ${push.type}\ndata: ${JSON.stringify(push.body)}\n\n`);
  }

  /** With the channel's position, so a stream cut before any publication still resumes from here. */
  encodeSubscribed(event: SubscribedEvent): Uint8Array {
    const line = this.positionLine(event.channel, event.position);
    return encoder.encode(`${line}event: subscribed\ndata: ${JSON.stringify(event)}\n\n`);
  }
}

/** Starts an SSE comment line (ignored by EventSource) that marks an event's channel position. */
const POSITION_MARK = ":@";
const MARK_BYTES = encoder.encode(POSITION_MARK);

/**
 * The framer of ONE multi-channel SSE stream: it keeps every channel's last position and
 * replaces each event's position mark with `id: <cursor>`, the positions of all the stream's
 * channels in the order of its request (`<epoch>:<offset>` each, `,`-separated, empty for a
 * channel without one yet). The browser sends the cursor back as `Last-Event-ID` on its own
 * reconnect, and {@link parseCursor} turns it into a resume position per channel. This is the
 * one framing made per connection rather than shared: only multi-channel SSE streams pay it.
 */
export class SseCursorFramer implements Framer {
  private readonly positions: string[];

  constructor(private readonly channels: readonly string[]) {
    this.positions = channels.map(() => "");
  }

  frame(payload: Uint8Array): Buffer {
    const bytes = identityFramer.frame(payload, false);
    if (bytes.length < 2 || bytes[0] !== MARK_BYTES[0] || bytes[1] !== MARK_BYTES[1]) return bytes;
    const end = bytes.indexOf(LF);
    const mark = bytes.toString("utf8", 2, end);
    const cut = mark.lastIndexOf(" ");
    const index = this.channels.indexOf(JSON.parse(mark.slice(0, cut)) as string);
    if (index >= 0) this.positions[index] = mark.slice(cut + 1);
    return Buffer.concat([Buffer.from(`id: ${this.positions.join(",")}\n`), bytes.subarray(end + 1)]);
  }
}

/**
 * The positions a multi-channel SSE stream's `Last-Event-ID` holds (see {@link SseCursorFramer}),
 * by channel; undefined when it is not a cursor of exactly these channels.
 */
export function parseCursor(
  cursor: string,
  channels: readonly string[],
  parsePosition: (text: string) => StreamPosition | undefined,
): Map<string, StreamPosition> | undefined {
  const parts = cursor.split(",");
  if (parts.length !== channels.length) return undefined;
  const since = new Map<string, StreamPosition>();
  for (const [i, part] of parts.entries()) {
    if (part === "") continue;
    const position = parsePosition(part);
    if (position === undefined) return undefined;
    since.set(channels[i] as string, position);
  }
  return since;
}

const SSE_END_OF_PUBLICATION = encoder.encode("}\n\n");
const SSE_KEEPALIVE = encoder.encode(":\n\n");

/**
 * Newline-delimited JSON (`GET /stream`): one JSON object per line, each with a `type`:
 * `publication` (`channel`, `offset`, `epoch` when the channel keeps history, `info`?, `data`),
 * `subscribed`, `join`, `leave`, `unsubscribe`, `disconnect` (their bodies' fields alongside
 * `type`), and `ping`, the keepalive.
 */
export class NdjsonCodec implements StreamCodec {
  readonly binary = false;

  prelude(): Buffer {
    return Buffer.alloc(0);
  }

  encodePublication(pub: RawPublication): Uint8Array {
    return concat([...publicationJson(pub, true), NDJSON_END_OF_PUBLICATION]);
  }

  encodePush(push: Push): Uint8Array {
    if (push.type === "publication") return this.encodePublication(rawOf(push));
    return encoder.encode(`${JSON.stringify({ type: push.type, ...push.body })}\n`);
  }

  encodeSubscribed(event: SubscribedEvent): Uint8Array {
    return encoder.encode(`${JSON.stringify({ type: "subscribed", ...event })}\n`);
  }
}

const NDJSON_END_OF_PUBLICATION = encoder.encode("}\n");

/** The node's stream encodings, one object each, so fan-out encodes a publication once per encoding. */
export const streamCodecs = {
  /** SSE of one channel: event ids carry the position. */
  sseOne: new SseCodec("one"),
  /** SSE of several channels: position marks, turned into cursor ids by each stream's {@link SseCursorFramer}. */
  sseMany: new SseCodec("many"),
  ndjson: new NdjsonCodec(),
} as const;
