/**
 * Conversions between the frame shapes of frames.ts and the Protobuf messages generated from
 * `proto/hubcast/v1/hubcast.proto`. JSON values (publication data, `ClientInfo.info`) become
 * `bytes` holding their UTF-8 JSON text; 64-bit integers become bigint and come back as
 * numbers only when they are at most 2^53-1.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { decodeJsonData, encodeJsonData } from "./json-codec.js";
import { ProtocolDecodeError } from "./codec.js";
import type {
  ClientInfo,
  Command,
  ErrorBody,
  JsonValue,
  Method,
  Methods,
  Publication,
  PublicationPush,
  Push,
  Reply,
  StreamPosition,
} from "./frames.js";
import type * as pb from "./gen/hubcast/v1/hubcast_pb.js";
import type { CommandSchema, PushSchema, ReplySchema } from "./gen/hubcast/v1/hubcast_pb.js";

type CommandInit = MessageInitShape<typeof CommandSchema>;
type ReplyInit = MessageInitShape<typeof ReplySchema>;
type PushInit = MessageInitShape<typeof PushSchema>;
type PositionInit = { offset: bigint; epoch: string };
type ClientInfoInit = { client: string; user: string; info: Uint8Array };
type PublicationInit = { offset?: bigint; info?: ClientInfoInit; data: Uint8Array };

/** A method's name in the Protobuf `oneof` (generated code camel-cases `presence_stats`). */
export const METHOD_CASE = {
  connect: "connect",
  subscribe: "subscribe",
  unsubscribe: "unsubscribe",
  publish: "publish",
  presence: "presence",
  presence_stats: "presenceStats",
  history: "history",
  refresh: "refresh",
} as const satisfies Record<Method, string>;
export type MethodCase = (typeof METHOD_CASE)[Method];

/** The wire method name for a `oneof` case: the inverse of {@link METHOD_CASE}. */
export const CASE_METHOD: Readonly<Record<MethodCase, Method>> = Object.fromEntries(
  Object.entries(METHOD_CASE).map(([method, c]) => [c, method]),
) as Record<MethodCase, Method>;

const EMPTY = new Uint8Array(0);

/** Client side: an integer for a uint64 field; throws a TypeError naming the field for anything else. */
export function toUint64(value: number, field: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`${field} must be a non-negative integer, got ${value}`);
  return BigInt(value);
}

/**
 * Server side: a uint64 that never throws, since a reply or push must always go out. Values
 * the server makes are safe integers already; others (an auth hook's fractional `expiresAt`)
 * are rounded down into 0 … 2^53-1.
 */
function serverUint64(value: number): bigint {
  if (Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  return BigInt(Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(value) || 0)));
}

/** A uint64 from the wire as a number; throws ProtocolDecodeError above 2^53-1. */
function safeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolDecodeError(`${field} ${value} is larger than 2^53-1`);
  return Number(value);
}

function jsonBytes(data: Uint8Array, field: string): JsonValue {
  try {
    return decodeJsonData(data) as JsonValue;
  } catch {
    throw new ProtocolDecodeError(`${field} is not UTF-8 JSON text`);
  }
}

// ---- frames.ts shapes → message init (server replies and pushes, client commands) ----

const positionInit = (p: StreamPosition): PositionInit => ({ offset: serverUint64(p.offset), epoch: p.epoch });
const sincePositionInit = (p: StreamPosition, field: string): PositionInit => ({
  offset: toUint64(p.offset, `${field}.offset`),
  epoch: p.epoch,
});

/** `ClientInfo` with its `info` JSON value as JSON bytes. */
export const clientInfoInit = (c: ClientInfo): ClientInfoInit => ({
  client: c.client,
  user: c.user,
  info: c.info === undefined ? EMPTY : encodeJsonData(c.info),
});

function publicationInit(p: Publication): PublicationInit {
  const init: PublicationInit = { data: encodeJsonData(p.data) };
  if (p.offset !== undefined) init.offset = serverUint64(p.offset);
  if (p.info !== undefined) init.info = clientInfoInit(p.info);
  return init;
}

const optionalServerU64 = (value: number | undefined): bigint | undefined =>
  value === undefined ? undefined : serverUint64(value);

/** The `oneof` of a Reply: an error, or the result under its method. */
export function replyInit(reply: Reply): ReplyInit {
  if ("error" in reply) return { id: reply.id, result: { case: "error", value: reply.error } };
  return { id: reply.id, result: resultInit(reply) } as ReplyInit;
}

function resultInit(reply: Exclude<Reply, { error: ErrorBody }>): ReplyInit["result"] {
  switch (reply.method) {
    case "connect": {
      const r = reply.result;
      const value = {
        ...r,
        pingIntervalMs: serverUint64(r.pingIntervalMs),
        pongTimeoutMs: optionalServerU64(r.pongTimeoutMs),
        expiresAt: optionalServerU64(r.expiresAt),
      };
      return { case: "connect", value };
    }
    case "subscribe": {
      const r = reply.result;
      const value = {
        recoverable: r.recoverable,
        position: r.position === undefined ? undefined : positionInit(r.position),
        recovered: r.recovered,
        publications: (r.publications ?? []).map(publicationInit),
        delta: r.delta,
      };
      return { case: "subscribe", value };
    }
    case "unsubscribe":
      return { case: "unsubscribe", value: {} };
    case "publish":
      return {
        case: "publish",
        value: { position: reply.result.position === undefined ? undefined : positionInit(reply.result.position) },
      };
    case "presence": {
      const clients = Object.fromEntries(
        Object.entries(reply.result.clients).map(([id, info]) => [id, clientInfoInit(info)]),
      );
      return { case: "presence", value: { clients } };
    }
    case "presence_stats":
      return { case: "presenceStats", value: reply.result };
    case "history":
      return {
        case: "history",
        value: {
          publications: reply.result.publications.map(publicationInit),
          position: positionInit(reply.result.position),
        },
      };
    case "refresh":
      return { case: "refresh", value: { expiresAt: optionalServerU64(reply.result.expiresAt) } };
  }
}

/** A push other than `publication` (which {@link ProtobufCodec} writes by hand). */
export function pushInit(push: Exclude<Push, { type: "publication" }>): PushInit {
  switch (push.type) {
    case "join":
    case "leave":
      return { push: { case: push.type, value: { channel: push.body.channel, info: clientInfoInit(push.body.info) } } };
    case "members": {
      const { channel, leaves, joins, summary } = push.body;
      const value = { channel, leaves: leaves.map(clientInfoInit), joins: joins.map(clientInfoInit), summary };
      return { push: { case: "members", value } };
    }
    case "unsubscribe":
      return { push: { case: "unsubscribe", value: push.body } };
    case "disconnect": {
      const value = { ...push.body, retryAfterMs: optionalServerU64(push.body.retryAfterMs) };
      return { push: { case: "disconnect", value } };
    }
    case "ping":
      return { push: { case: "ping", value: {} } };
  }
}

/** A command as the SDK sends it; publish data goes as its JSON text. Throws a TypeError for unusable integers. */
export function commandInit(command: Command): CommandInit {
  switch (command.method) {
    case "subscribe": {
      const r = command.request;
      return {
        id: command.id,
        method: {
          case: "subscribe",
          value: { ...r, since: r.since === undefined ? undefined : sincePositionInit(r.since, "since") },
        },
      };
    }
    case "publish": {
      const { channel, data, idempotencyKey } = command.request;
      const value = { channel, data: encodeJsonData(data), idempotencyKey };
      return { id: command.id, method: { case: "publish", value } };
    }
    case "history": {
      const r = command.request;
      const limit = r.limit === undefined ? undefined : toUint64(r.limit, "limit");
      const value = { ...r, limit, since: r.since === undefined ? undefined : sincePositionInit(r.since, "since") };
      return { id: command.id, method: { case: "history", value } };
    }
    case "connect":
    case "unsubscribe":
    case "presence":
    case "refresh":
      return { id: command.id, method: { case: command.method, value: command.request } } as CommandInit;
    case "presence_stats":
      return { id: command.id, method: { case: "presenceStats", value: command.request } };
  }
}

// ---- messages → frames.ts shapes (the SDK's side). Throw ProtocolDecodeError on bad values ----

function position(p: pb.StreamPosition | undefined, field: string): StreamPosition {
  if (p === undefined) throw new ProtocolDecodeError(`${field} is missing`);
  return { offset: safeNumber(p.offset, `${field}.offset`), epoch: p.epoch };
}

const optionalPosition = (p: pb.StreamPosition | undefined, field: string): StreamPosition | undefined =>
  p === undefined ? undefined : position(p, field);

function clientInfo(c: pb.ClientInfo): ClientInfo {
  const out: ClientInfo = { client: c.client, user: c.user };
  if (c.info.length > 0) out.info = jsonBytes(c.info, "ClientInfo.info");
  return out;
}

function publication(p: pb.Publication | pb.PublicationPush): Publication {
  const out: Publication = { data: jsonBytes(p.data, "publication data") };
  if (p.offset !== undefined) out.offset = safeNumber(p.offset, "publication offset");
  if (p.info !== undefined) out.info = clientInfo(p.info);
  return out;
}

/** A publication push with `rawData`: its data bytes, a delta's (then `data` is `null`) or the JSON text. */
function publicationPush(p: pb.PublicationPush): PublicationPush {
  if (!p.delta) return { channel: p.channel, ...publication(p), rawData: p.data };
  const out: PublicationPush = { channel: p.channel, data: null, delta: true, rawData: p.data };
  if (p.offset !== undefined) out.offset = safeNumber(p.offset, "publication offset");
  if (p.info !== undefined) out.info = clientInfo(p.info);
  return out;
}

/** Sets `key` on `target` only when `value` is defined, so absent stays absent. */
function setDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function connectResult(r: pb.ConnectResult): Methods["connect"]["result"] {
  const { client, version, maxMessageBytes } = r;
  const out: Methods["connect"]["result"] = {
    client,
    version,
    pingIntervalMs: safeNumber(r.pingIntervalMs, "pingIntervalMs"),
    maxMessageBytes,
  };
  if (r.pongTimeoutMs !== undefined) out.pongTimeoutMs = safeNumber(r.pongTimeoutMs, "pongTimeoutMs");
  if (r.expiresAt !== undefined) out.expiresAt = safeNumber(r.expiresAt, "expiresAt");
  return out;
}

function subscribeResult(r: pb.SubscribeResult): Methods["subscribe"]["result"] {
  const out: Methods["subscribe"]["result"] = { recoverable: r.recoverable };
  setDefined(out, "position", optionalPosition(r.position, "position"));
  if (r.recovered !== undefined) {
    // Protobuf cannot tell an empty list from a missing one; the list goes with `recovered`.
    out.recovered = r.recovered;
    out.publications = r.publications.map(publication);
  }
  setDefined(out, "delta", r.delta);
  return out;
}

/** A Reply message as the SDK's {@link Reply}. */
export function replyFromMessage(reply: pb.Reply): Reply {
  const { id } = reply;
  const r = reply.result;
  switch (r.case) {
    case undefined:
      throw new ProtocolDecodeError(`reply ${id} has no result`);
    case "error": {
      const error: ErrorBody = { code: r.value.code, message: r.value.message };
      setDefined(error, "temporary", r.value.temporary);
      return { id, error };
    }
    case "connect":
      return { id, method: "connect", result: connectResult(r.value) };
    case "subscribe":
      return { id, method: "subscribe", result: subscribeResult(r.value) };
    case "unsubscribe":
      return { id, method: "unsubscribe", result: {} };
    case "publish": {
      const result: Methods["publish"]["result"] = {};
      setDefined(result, "position", optionalPosition(r.value.position, "position"));
      return { id, method: "publish", result };
    }
    case "presence": {
      const clients = Object.fromEntries(Object.entries(r.value.clients).map(([key, info]) => [key, clientInfo(info)]));
      return { id, method: "presence", result: { clients } };
    }
    case "presenceStats":
      return { id, method: "presence_stats", result: { numClients: r.value.numClients, numUsers: r.value.numUsers } };
    case "history": {
      const result = {
        publications: r.value.publications.map(publication),
        position: position(r.value.position, "position"),
      };
      return { id, method: "history", result };
    }
    case "refresh": {
      const result: Methods["refresh"]["result"] = {};
      if (r.value.expiresAt !== undefined) result.expiresAt = safeNumber(r.value.expiresAt, "expiresAt");
      return { id, method: "refresh", result };
    }
  }
}

function requireInfo(info: pb.ClientInfo | undefined, type: string): ClientInfo {
  if (info === undefined) throw new ProtocolDecodeError(`${type} push has no info`);
  return clientInfo(info);
}

/** A Push message as the SDK's {@link Push}. */
export function pushFromMessage(push: pb.Push): Push {
  const p = push.push;
  switch (p.case) {
    case undefined:
      throw new ProtocolDecodeError("push holds no known push type");
    case "publication":
      return { type: "publication", body: publicationPush(p.value) };
    case "join":
    case "leave":
      return { type: p.case, body: { channel: p.value.channel, info: requireInfo(p.value.info, p.case) } };
    case "members": {
      const { channel, leaves, joins, summary } = p.value;
      const body: Extract<Push, { type: "members" }>["body"] = {
        channel,
        leaves: leaves.map(clientInfo),
        joins: joins.map(clientInfo),
      };
      if (summary !== undefined) body.summary = { joins: summary.joins, leaves: summary.leaves };
      return { type: "members", body };
    }
    case "unsubscribe": {
      const { channel, code, reason, resubscribe } = p.value;
      return { type: "unsubscribe", body: { channel, code, reason, resubscribe } };
    }
    case "disconnect": {
      const { code, reason, reconnect } = p.value;
      const body: Extract<Push, { type: "disconnect" }>["body"] = { code, reason, reconnect };
      if (p.value.retryAfterMs !== undefined) body.retryAfterMs = safeNumber(p.value.retryAfterMs, "retryAfterMs");
      return { type: "disconnect", body };
    }
    case "ping":
      return { type: "ping", body: {} };
  }
}
