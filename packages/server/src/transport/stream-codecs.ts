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
 * the keepalive is a comment line. With `ids` (streams of one channel) each publication's
 * event id is its position `<epoch>:<offset>`, which the browser sends back as
 * `Last-Event-ID` when it reconnects.
 */
export class SseCodec implements StreamCodec {
  readonly binary = false;

  constructor(private readonly ids: boolean) {}

  prelude(retryMs: number): Buffer {
    // The comment makes proxies and the browser see the stream open at once.
    return Buffer.from(`retry: ${Math.round(retryMs)}\n: hubcast\n\n`);
  }

  encodePublication(pub: RawPublication): Uint8Array {
    const id =
      this.ids && pub.offset !== undefined && pub.epoch !== undefined ? `id: ${pub.epoch}:${pub.offset}\n` : "";
    return concat([encoder.encode(`${id}data: `), ...publicationJson(pub, false), SSE_END_OF_PUBLICATION]);
  }

  encodePush(push: Push): Uint8Array {
    if (push.type === "publication") return this.encodePublication(rawOf(push));
    if (push.type === "ping") return SSE_KEEPALIVE;
    return encoder.encode(`event: ${push.type}\ndata: ${JSON.stringify(push.body)}\n\n`);
  }

  encodeSubscribed(event: SubscribedEvent): Uint8Array {
    return encoder.encode(`event: subscribed\ndata: ${JSON.stringify(event)}\n\n`);
  }
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
  sseOne: new SseCodec(true),
  /** SSE of several channels: no event ids (see docs/transports.md, "Recovery"). */
  sseMany: new SseCodec(false),
  ndjson: new NdjsonCodec(),
} as const;
