import { ErrorCode, Subprotocol } from "@hubcast/protocol";
import { decodePayload } from "../payload.js";
import { Incoming } from "./adapter.js";
import type { ApiAuth, ApiPublishRequest, IncomingFrame, ProtocolAdapter } from "./adapter.js";

const QUOTE = 0x22;
const DATA_MARKER = Buffer.from(',"data":');
const ID_PREFIX_LENGTH = '{"id":'.length;

function readInt(buf: Buffer, start: number): { value: number; end: number } {
  let value = 0;
  let i = start;
  for (; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  return { value, end: i };
}

function objectField(frame: unknown, key: string): Record<string, unknown> | undefined {
  if (typeof frame !== "object" || frame === null) return undefined;
  const value = (frame as Record<string, unknown>)[key];
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
}

function parseError(payload: Buffer, out: IncomingFrame): Incoming {
  const body = objectField(JSON.parse(payload.toString("utf8")), "error");
  out.errorCode = typeof body?.["code"] === "number" ? body["code"] : 0;
  out.message = typeof body?.["message"] === "string" ? body["message"] : "";
  return Incoming.error;
}

function parseDisconnect(payload: Buffer, out: IncomingFrame): Incoming {
  const body = objectField(JSON.parse(payload.toString("utf8")), "disconnect");
  out.closeCode = typeof body?.["code"] === "number" ? body["code"] : 0;
  out.message = typeof body?.["reason"] === "string" ? body["reason"] : "";
  out.retryAfterMs = typeof body?.["retryAfterMs"] === "number" ? body["retryAfterMs"] : 0;
  return Incoming.disconnect;
}

/**
 * Hubcast protocol v1, JSON encoding (docs/protocol.md). Publications are recognised by their
 * first bytes and read where their `data` starts (the server writes `data` last), without
 * decoding the frame; replies are read by id, and only errors and disconnects are parsed as
 * JSON.
 */
export const hubcastAdapter: ProtocolAdapter = {
  name: "hubcast",
  description: "Hubcast protocol v1 (JSON over WebSocket, subprotocol hubcast.v1.json)",
  subprotocol: Subprotocol.json,
  publishReplies: true,

  connect: (id) => `{"id":${id},"connect":{"name":"hubcast-bench"}}`,
  subscribe: (channel, id) => `{"id":${id},"subscribe":{"channel":${JSON.stringify(channel)}}}`,
  publish: (channel, data, id) => `{"id":${id},"publish":{"channel":${JSON.stringify(channel)},"data":${data}}}`,

  parse(payload, out) {
    // Every frame is one JSON object: {"publication":…}, {"id":…}, {"ping":{}}, {"disconnect":…}, …
    if (payload[0] !== 0x7b || payload[1] !== QUOTE) return Incoming.other;
    const first = payload[2];
    if (first === 0x70 /* p */) {
      if (payload[3] === 0x75 /* u: publication */) {
        const at = payload.lastIndexOf(DATA_MARKER);
        return at > 0 && decodePayload(payload, at + DATA_MARKER.length, out) ? Incoming.publication : Incoming.other;
      }
      if (payload[3] === 0x69 /* i: ping */) {
        out.answer = '{"pong":{}}';
        return Incoming.ping;
      }
      return Incoming.other;
    }
    if (first === 0x69 /* i: {"id":n,… */) {
      const { value, end } = readInt(payload, ID_PREFIX_LENGTH);
      out.id = value;
      // {"id":n,"error":{…}}
      if (payload[end + 2] === 0x65 /* e */ && payload.toString("latin1", end + 2, end + 9) === 'error":')
        return parseError(payload, out);
      return Incoming.reply;
    }
    if (first === 0x64 /* d: disconnect */) return parseDisconnect(payload, out);
    return Incoming.other;
  },

  apiPublish: (channel: string, data: string, auth: ApiAuth): ApiPublishRequest => ({
    path: "/api/publish",
    body: `{"channel":${JSON.stringify(channel)},"data":${data}}`,
    headers: auth.apiKey === undefined ? {} : { authorization: `Bearer ${auth.apiKey}` },
  }),

  explainError({ operation, code, channel }) {
    const namespace = channel.includes(":") ? channel.slice(0, channel.indexOf(":")) : undefined;
    const config =
      namespace === undefined
        ? `"channel":{"allowPublish":true}`
        : `"namespaces":{"${namespace}":{"allowPublish":true}}`;
    if (code === ErrorCode.unknownChannel) {
      return `the server does not know channel "${channel}": add ${config} to its config file, or pick a configured namespace with --namespace`;
    }
    if (code === ErrorCode.permissionDenied && operation === "publish") {
      return `clients may not publish to "${channel}": set ${config} in the server's config, or publish through the server API with --api-url and --api-key`;
    }
    if (code === ErrorCode.tooManyRequests) {
      return "the server rate-limits commands per connection (commandRatePerSecond, default 100/s): start it with --command-rate-per-second 0 for benchmarks, or spread publishing over more --publishers";
    }
    if (code === ErrorCode.unauthorized) {
      return `the server refused ${operation}: the bench connects anonymously, so allow anonymous connections and subscribe: "anyone" in the bench namespace`;
    }
    return undefined;
  },
};
