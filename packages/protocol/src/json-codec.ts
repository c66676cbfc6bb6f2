import { ErrorCode } from "./codes.js";
import type { Codec, RawPublication } from "./codec.js";
import { ProtocolDecodeError } from "./codec.js";
import type { Command, ErrorBody, PublicationPush, Push, Reply, ServerFrame } from "./frames.js";
import { PUSH_TYPES, Subprotocol } from "./frames.js";
import type { DataLimits } from "./data-limits.js";
import { MAX_DATA_DEPTH, jsonValueWithinDepth, tooDeepProblem } from "./data-limits.js";
import { bytesToLatin1, latin1ToBytes, publicationDataText } from "./json-publication.js";
import type { ClientFrame } from "./validate.js";
import { parseClientFrame } from "./validate.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

const DATA_SUFFIX = encoder.encode("}}");
const EMPTY = new Uint8Array(0);
const DEFAULT_LIMITS: DataLimits = { maxDataDepth: MAX_DATA_DEPTH };

function toText(data: Uint8Array | string): string {
  return typeof data === "string" ? data : decoder.decode(data);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Encodes a JSON value as UTF-8 JSON text: how publication data travels in protocol v1. */
export function encodeJsonData(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes publication data produced by {@link encodeJsonData}. */
export function decodeJsonData(data: Uint8Array): unknown {
  return JSON.parse(decoder.decode(data)) as unknown;
}

/** Protocol v1 in JSON over text frames (`hubcast.v1.json`). */
export class JsonCodec implements Codec {
  readonly subprotocol = Subprotocol.json;
  readonly binary = false;

  decodeClientFrame(data: Uint8Array | string, limits: DataLimits = DEFAULT_LIMITS): ClientFrame {
    let value: unknown;
    try {
      value = JSON.parse(toText(data));
    } catch {
      // Covers bad JSON, invalid UTF-8 and nesting deep enough to overflow the parser's stack.
      return { kind: "invalid", code: ErrorCode.badRequest, message: "frame is not valid JSON" };
    }
    const frame = parseClientFrame(value);
    if (frame.kind !== "command" || frame.command.method !== "publish") return frame;
    // The one depth check of this path, on the parsed value: the text's own nesting includes
    // the envelope, and its other fields are refused by type anyway.
    if (jsonValueWithinDepth(frame.command.request.data, limits.maxDataDepth)) return frame;
    const message = `publish: field "data" ${tooDeepProblem(limits.maxDataDepth)}`;
    return { kind: "invalid", id: frame.command.id, code: ErrorCode.badRequest, message };
  }

  encodeReply(reply: Reply): Uint8Array {
    const wire =
      "error" in reply ? { id: reply.id, error: reply.error } : { id: reply.id, [reply.method]: reply.result };
    return encoder.encode(JSON.stringify(wire));
  }

  encodePush(push: Push): Uint8Array {
    if (push.type === "publication") {
      const { channel, data, offset, info, delta, rawData } = push.body;
      if (delta === true) return this.encodePublication({ channel, data: deltaBytes(rawData), offset, info, delta });
      return this.encodePublication({ channel, data: encodeJsonData(data), offset, info });
    }
    return encoder.encode(JSON.stringify({ [push.type]: push.body }));
  }

  encodePublication(pub: RawPublication): Uint8Array {
    // Field order puts `data` last so the already-encoded bytes are copied, never re-parsed.
    let head = `{"publication":{"channel":${JSON.stringify(pub.channel)}`;
    if (pub.offset !== undefined) head += `,"offset":${pub.offset}`;
    if (pub.info !== undefined) head += `,"info":${JSON.stringify(pub.info)}`;
    if (pub.delta === true) head += `,"delta":true`;
    head += `,"data":`;
    // A delta is bytes, not JSON text: it travels as a JSON string of one character per byte.
    const data = pub.delta === true ? encoder.encode(JSON.stringify(bytesToLatin1(pub.data))) : pub.data;
    const headBytes = encoder.encode(head);
    const out = new Uint8Array(headBytes.length + data.length + DATA_SUFFIX.length);
    out.set(headBytes, 0);
    out.set(data, headBytes.length);
    out.set(DATA_SUFFIX, headBytes.length + data.length);
    return out;
  }

  encodeCommand(command: Command): string {
    return JSON.stringify({ id: command.id, [command.method]: command.request });
  }

  encodePong(): string {
    return '{"pong":{}}';
  }

  decodeServerFrame(data: string | Uint8Array): ServerFrame {
    let value: unknown;
    const text = toText(data);
    try {
      value = JSON.parse(text);
    } catch {
      throw new ProtocolDecodeError("server frame is not valid JSON");
    }
    if (!isObject(value)) throw new ProtocolDecodeError("server frame is not a JSON object");
    const id = value["id"];
    if (typeof id === "number") {
      if (isObject(value["error"]))
        return { kind: "reply", reply: { id, error: value["error"] as unknown as ErrorBody } };
      const method = Object.keys(value).find((k) => k !== "id");
      if (method === undefined) throw new ProtocolDecodeError(`reply ${id} has no result`);
      return { kind: "reply", reply: { id, method, result: value[method] } as Reply };
    }
    const publication = value["publication"];
    if (isObject(publication)) {
      return { kind: "push", push: { type: "publication", body: withRawData(publication, text) } };
    }
    for (const type of PUSH_TYPES) {
      const body = value[type];
      if (isObject(body)) return { kind: "push", push: { type, body } as Push };
    }
    throw new ProtocolDecodeError(`unknown server frame with keys ${Object.keys(value).join(",")}`);
  }
}

/** The bytes of a decoded delta push's `rawData`, for encoding it again. */
export function deltaBytes(rawData: Uint8Array | string | undefined): Uint8Array {
  if (rawData === undefined) return EMPTY;
  return typeof rawData === "string" ? (latin1ToBytes(rawData) ?? EMPTY) : rawData;
}

/**
 * A parsed publication push with `rawData` set: a delta's bytes (its `data` string, one
 * character per byte; empty when it is not such a string, so applying it fails), or the full
 * data's text as it came (a slice of the frame: no copy, no encoding).
 */
function withRawData(body: Record<string, unknown>, frame: string): PublicationPush {
  const push = body as unknown as PublicationPush;
  if (push.delta === true) {
    const delta = typeof body["data"] === "string" ? latin1ToBytes(body["data"]) : undefined;
    push.rawData = delta ?? EMPTY;
    push.data = null;
    return push;
  }
  const text = publicationDataText(frame);
  if (text !== undefined) push.rawData = text;
  return push;
}
