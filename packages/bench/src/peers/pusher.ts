import { decodePayload } from "../payload.js";
import { PUSHER_BATCH_LIMIT, ownNamespaceChannel, pusherBatchRequest, pusherEventsRequest } from "../pusher/publish.js";
import { Incoming } from "./adapter.js";
import type { ApiAuth, ApiPublishRequest, IncomingFrame, ProtocolAdapter } from "./adapter.js";

/** The id `parse` gives the greeting (`pusher:connection_established`): the connect's. */
export const CONNECT_ID = 1;
/**
 * The id `parse` gives `pusher_internal:subscription_succeeded` and subscription errors. A
 * bench connection subscribes once, right after the greeting, so its subscribe is always id 2.
 */
export const SUBSCRIBE_ID = 2;

/** The event name bench publications have for Pusher clients. */
export const BENCH_EVENT = "bench";

const EVENT_PREFIX = Buffer.from('{"event":"');
const DATA_MARKER = Buffer.from(',"data":');
const PROTOCOL_EVENT = Buffer.from("pusher");
const QUOTE = 0x22;
const PONG = '{"event":"pusher:pong","data":{}}';

/** JSON text to a record, or undefined when it is not a JSON object. */
function record(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A protocol message's `data`, which Pusher sends as a JSON string of an object. */
const dataOf = (payload: Buffer): Record<string, unknown> | undefined =>
  record(record(payload.toString("utf8"))?.["data"]);

/**
 * `pusher:error`: codes 4000–4099 refuse the connection for good (unknown app key, disabled
 * app, over quota, protocol version, unauthorized) and are reported as the connect's error;
 * 4100–4299 announce a close after which a client comes back (over capacity, no pong, the node
 * going away); an error without such a code concerns what the client sent, here its subscribe.
 */
function parseError(payload: Buffer, out: IncomingFrame): Incoming {
  const data = dataOf(payload);
  const code = typeof data?.["code"] === "number" ? data["code"] : 0;
  out.message = typeof data?.["message"] === "string" ? data["message"] : "pusher:error";
  if (code >= 4100 && code < 4300) {
    out.closeCode = code;
    out.retryAfterMs = 0;
    return Incoming.disconnect;
  }
  out.id = code >= 4000 && code < 4100 ? CONNECT_ID : SUBSCRIBE_ID;
  out.errorCode = code;
  return Incoming.error;
}

function parseSubscriptionError(payload: Buffer, out: IncomingFrame): Incoming {
  const data = dataOf(payload);
  out.id = SUBSCRIBE_ID;
  out.errorCode = typeof data?.["status"] === "number" ? data["status"] : 0;
  const type = typeof data?.["type"] === "string" ? `${data["type"]}: ` : "";
  out.message = `${type}${typeof data?.["error"] === "string" ? data["error"] : "subscription refused"}`;
  return Incoming.error;
}

/** Classifies a `pusher:` or `pusher_internal:` message by its event name. */
function parseProtocolEvent(payload: Buffer, out: IncomingFrame): Incoming {
  const end = payload.indexOf(QUOTE, EVENT_PREFIX.length);
  switch (payload.toString("latin1", EVENT_PREFIX.length, end)) {
    case "pusher:ping":
      out.answer = PONG;
      return Incoming.ping;
    case "pusher:connection_established":
      out.id = CONNECT_ID;
      return Incoming.reply;
    case "pusher_internal:subscription_succeeded":
      out.id = SUBSCRIBE_ID;
      return Incoming.reply;
    case "pusher:subscription_error":
      return parseSubscriptionError(payload, out);
    case "pusher:error":
      return parseError(payload, out);
    default:
      // pusher:pong, member_added/removed, cache_miss, signin_success: nothing to act on.
      return Incoming.other;
  }
}

/**
 * Pusher Channels protocol 7 (what pusher-js 8 speaks), on the bench's own WebSocket client:
 * no pusher-js. The server greets with `pusher:connection_established`; the bench subscribes
 * to public channels (`pusher:subscribe`, answered by `pusher_internal:subscription_succeeded`);
 * publications arrive as `{"event":"bench","channel":…,"data":"<payload>"}` with `data` last
 * and are read where it starts; the server's `pusher:ping` is answered with `pusher:pong`.
 * Pusher clients cannot publish to public channels, so publishers go through an HTTP API
 * ({@link pusherAdapter.apiPublish}).
 */
export const pusherAdapter: ProtocolAdapter = {
  name: "pusher",
  description:
    "Pusher Channels protocol 7 (pusher-js 8) on /app/{key}, public channels; publishing by the Pusher HTTP API (--pusher-app)",
  subprotocol: undefined,
  publishReplies: false,
  serverGreets: true,
  // Pusher channel names hold A-Z a-z 0-9 _ - = @ , . ; and no ":".
  namespaceSeparator: "-",
  unsupportedScenarios: {
    chat: "chat members publish on their own connections, which Pusher clients can do only with client events on private channels; with --protocol pusher run connect, fanout or cross-node",
  },

  connect: () => undefined,
  subscribe: (channel) => `{"event":"pusher:subscribe","data":{"channel":${JSON.stringify(channel)}}}`,
  publish: () => {
    throw new TypeError("Pusher clients do not publish to public channels; the bench publishes by the HTTP API");
  },

  parse(payload, out) {
    if (payload.length <= EVENT_PREFIX.length || payload.compare(EVENT_PREFIX, 0, 10, 0, 10) !== 0)
      return Incoming.other;
    const at = EVENT_PREFIX.length;
    if (payload.compare(PROTOCOL_EVENT, 0, PROTOCOL_EVENT.length, at, at + PROTOCOL_EVENT.length) === 0)
      return parseProtocolEvent(payload, out);
    // An app event: data is written after event and channel (user_id, if any, follows it).
    const dataAt = payload.lastIndexOf(DATA_MARKER);
    return dataAt > 0 && decodePayload(payload, dataAt + DATA_MARKER.length, out)
      ? Incoming.publication
      : Incoming.other;
  },

  /**
   * With `--api-key`, Hubcast's own server API (`POST /api/publish` into the app's namespace
   * `pusher.<id>`); otherwise the Pusher HTTP API (`POST /apps/{id}/events`, signed).
   */
  apiPublish(channel: string, data: string, auth: ApiAuth): ApiPublishRequest {
    const app = auth.pusherApp;
    if (app === undefined) throw new TypeError("--protocol pusher publishes for an app: --pusher-app is missing");
    if (auth.apiKey !== undefined)
      return {
        path: "/api/publish",
        body: `{"channel":${JSON.stringify(ownNamespaceChannel(app, channel))},"data":{"event":"${BENCH_EVENT}","data":${data}}}`,
        headers: { authorization: `Bearer ${auth.apiKey}` },
      };
    return pusherEventsRequest(app, { channel, event: BENCH_EVENT, data }, Date.now() / 1000);
  },

  /** The Pusher HTTP API takes batches of 10; Hubcast's own server API (`--api-key`) one publication per request. */
  apiBatchLimit: (auth: ApiAuth) => (auth.apiKey === undefined ? PUSHER_BATCH_LIMIT : 1),

  apiPublishBatch(channel: string, data: readonly string[], auth: ApiAuth): ApiPublishRequest {
    const app = auth.pusherApp;
    if (app === undefined) throw new TypeError("--protocol pusher publishes for an app: --pusher-app is missing");
    const events = data.map((d) => ({ channel, event: BENCH_EVENT, data: d }));
    return pusherBatchRequest(app, events, Date.now() / 1000);
  },

  explainApiError({ status, auth }) {
    if (auth.apiKey !== undefined) return undefined; // Hubcast's own API: the generic hints apply
    if (status === 404 || status === 405)
      return "the server has no Pusher HTTP API (POST /apps/{id}/events); publish through Hubcast's server API instead: add --api-key KEY (the node's apiKey)";
    if (status === 401 || status === 403)
      return "the server refused the request's signature or app: give the app it serves with --pusher-app id:key:secret (and keep both clocks within a few minutes)";
    if (status === 413)
      return "the publication is larger than the app allows (maxEventBytes, 10 KiB by default): lower --payload-bytes";
    return undefined;
  },

  explainError({ operation, code, channel }) {
    if (operation === "connect" && code === 4001)
      return "the server serves no app with this key: start it with --pusher-app id:key:secret and give the bench the same --pusher-app (the bench's default app is bench:bench-key:hubcast-bench-secret)";
    if (operation === "connect" && (code === 4007 || code === 4008))
      return "the server refused the protocol version: connect with ?protocol=7 (give --url ws://host:port and the bench adds it)";
    if (operation === "connect" && code === 4004)
      return "the app is over its connection quota on this node (maxConnections): raise it for the bench";
    if (operation === "connect" && code === 4003)
      return "the app is disabled (enabled: false): enable it for the bench";
    if (operation === "subscribe" && code === 401)
      return `"${channel}" is a private or presence channel, which needs an auth signature; the bench subscribes to public channels: pick a --namespace that does not start with private- or presence-`;
    if (operation === "subscribe" && code === 400)
      return "the channel name is not a valid Pusher channel name: --namespace may hold A-Z a-z 0-9 _ . - only";
    return undefined;
  },

  // 4100–4199: over capacity, come back after a back-off (as pusher-js does).
  triesLater: (closeCode) => closeCode >= 4100 && closeCode < 4200,
};
