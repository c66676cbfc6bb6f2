/**
 * The Pusher HTTP API under `/apps/{app id}/`, as the Pusher server SDKs call it: publish
 * (`/events`, `/batch_events`), read channels and presence users, terminate a user's
 * connections. Every request is signed with the app's secret (request-signing.ts); the body
 * is bounded and checked (api-input.ts); the backend does the work. Answers are Pusher's:
 * JSON on success, a plain-text message with the status on failure.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { readBody } from "../http/body.js";
import type { Metrics } from "../metrics.js";
import type { ChannelAttribute, ChannelInfo, PusherApiBackend } from "./api-backend.js";
import { CHANNEL_ATTRIBUTES, PusherApiError } from "./api-backend.js";
import {
  checkChannelName,
  checkUserId,
  isCacheChannel,
  isPresenceChannel,
  MAX_BATCH_EVENTS,
  objectFields,
  parseBatch,
  parseEvent,
  parseInfo,
} from "./api-input.js";
import type { ResolvedPusherApp } from "./apps.js";
import { parseQuery, verifyBodyMd5, verifySignature } from "./request-signing.js";
import type { QueryEntries } from "./request-signing.js";

/** The least {@link PusherApiOptions.maxBodyBytes} defaults to: 1 MiB. */
export const MIN_DEFAULT_API_BODY_BYTES = 1_048_576;

/** Where every Pusher API path starts. */
export const PUSHER_API_PREFIX = "/apps/";

/** What {@link createPusherApiHandler} serves, and with what. */
export interface PusherApiOptions {
  /** The apps served; a path's app id picks one. */
  apps: readonly ResolvedPusherApp[];
  backend: PusherApiBackend;
  logger: Logger;
  /**
   * Largest request body, in bytes; larger ones get 413 and the connection is closed.
   * @default the larger of 1 MiB and room for a full batch of the largest app's events (twice
   * `maxEventBytes` each, for JSON escaping, plus 64 KiB)
   */
  maxBodyBytes?: number;
  /** Where unexpected errors (answered 500) are counted, as site `api`. @default not counted, only logged */
  faults?: Pick<Metrics, "unexpectedError">;
  /** The clock that `auth_timestamp` is checked against, in ms since the epoch. @default Date.now */
  now?: () => number;
}

/** A refusal made here (not the backend's): its status, plain-text message and extra headers. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** One authenticated request as a route sees it. `body` is the parsed JSON (POST), undefined when empty. */
interface Call {
  app: ResolvedPusherApp;
  /** The path's decoded parameters: a channel name or a user id. */
  params: readonly string[];
  /** A query parameter's last value (its name matched case-insensitively, as signed). */
  param(name: string): string | undefined;
  body: unknown;
}

interface Route {
  method: "GET" | "POST";
  /** Path segments after `/apps/{id}/`; `null` is a parameter. */
  pattern: readonly (string | null)[];
  handle(call: Call, backend: PusherApiBackend): Promise<object>;
}

/** Keeps the attributes asked for that the channel has: `user_count` only for presence channels. */
function attributesOf(
  channel: string,
  asked: readonly ChannelAttribute[],
  info: ChannelInfo | undefined,
): Partial<Record<ChannelAttribute, number>> {
  const out: Partial<Record<ChannelAttribute, number>> = {};
  for (const name of asked) {
    if (name === "cache" || (name === "user_count" && !isPresenceChannel(channel))) continue;
    const value = info?.[name];
    if (typeof value === "number") out[name] = value;
  }
  return out;
}

const invalid = (message: string): PusherApiError => new PusherApiError(400, message);

const ROUTES: readonly Route[] = [
  {
    method: "POST",
    pattern: ["events"],
    async handle({ app, body }, backend) {
      const event = parseEvent(body, { maxEventBytes: app.maxEventBytes, batch: false });
      const result = await backend.trigger(app, event);
      if (event.info === undefined) return {};
      const info = event.info;
      return { channels: Object.fromEntries(event.channels.map((c) => [c, attributesOf(c, info, result?.[c])])) };
    },
  },
  {
    method: "POST",
    pattern: ["batch_events"],
    async handle({ app, body }, backend) {
      const events = parseBatch(body, app.maxEventBytes);
      const results: (Record<string, ChannelInfo> | undefined)[] = [];
      // One after another, so events to one channel arrive in the batch's order.
      for (const event of events) results.push(await backend.trigger(app, event));
      if (events.every((event) => event.info === undefined)) return {};
      return {
        batch: events.map((event, i) => {
          const channel = event.channels[0] ?? "";
          return attributesOf(channel, event.info ?? [], results[i]?.[channel]);
        }),
      };
    },
  },
  {
    method: "GET",
    pattern: ["channels"],
    async handle({ app, param }, backend) {
      const prefix = param("filter_by_prefix") ?? "";
      const userCount = parseInfo(param("info"), ["user_count"]).includes("user_count");
      if (userCount && !isPresenceChannel(prefix))
        throw invalid("info=user_count is only for presence channels: add filter_by_prefix=presence-");
      const found = await backend.channels(app, { prefix, userCount });
      const channels: Record<string, { user_count?: number }> = {};
      for (const [name, info] of Object.entries(found)) {
        channels[name] = userCount && typeof info.user_count === "number" ? { user_count: info.user_count } : {};
      }
      return { channels };
    },
  },
  {
    method: "GET",
    pattern: ["channels", null],
    async handle({ app, params, param }, backend) {
      const channel = checkChannelName(params[0]);
      const asked = parseInfo(param("info"), CHANNEL_ATTRIBUTES);
      if (asked.includes("user_count") && !isPresenceChannel(channel))
        throw invalid(`info=user_count is only for presence channels, and '${channel}' is not one`);
      if (asked.includes("cache") && !isCacheChannel(channel))
        throw invalid(`info=cache is only for cache channels (cache-, private-cache-...), and '${channel}' is not one`);
      const info = await backend.channel(app, channel, asked);
      const cache = asked.includes("cache") ? { cache: info.cache ?? null } : {};
      return { occupied: info.occupied === true, ...attributesOf(channel, asked, info), ...cache };
    },
  },
  {
    method: "GET",
    pattern: ["channels", null, "users"],
    async handle({ app, params }, backend) {
      const channel = checkChannelName(params[0]);
      if (!isPresenceChannel(channel))
        throw invalid(`Only presence channels have users, and '${channel}' is not one (no presence- prefix)`);
      const users = await backend.users(app, channel);
      return { users: users.map(({ id }) => ({ id })) };
    },
  },
  {
    method: "POST",
    pattern: ["users", null, "terminate_connections"],
    async handle({ app, params, body }, backend) {
      const userId = checkUserId(params[0] ?? "");
      if (body !== undefined) objectFields(body, "the body");
      await backend.terminateUserConnections(app, userId);
      return {};
    },
  },
];

function findRoute(segments: readonly string[]): { route: Route; params: string[] } | undefined {
  for (const route of ROUTES) {
    if (route.pattern.length !== segments.length) continue;
    const params: string[] = [];
    const fits = route.pattern.every((part, i) => {
      const segment = segments[i] ?? "";
      if (part !== null) return part === segment;
      params.push(segment);
      return segment !== "";
    });
    if (fits) return { route, params };
  }
  return undefined;
}

const decode = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid(`Invalid percent-encoding in the path segment '${segment}'`);
  }
};

/** The last value of `name` (lowercase), as signed. */
function lastValue(query: QueryEntries, name: string): string | undefined {
  let value: string | undefined;
  for (const [key, v] of query) if (key.toLowerCase() === name) value = v;
  return value;
}

/** The body's JSON value; undefined for an empty body (a GET-like POST, `terminate_connections`). */
function parseJson(bytes: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalid("The body is not valid UTF-8");
  }
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalid(`The body is not valid JSON: ${(err as Error).message}`);
  }
}

/** What {@link authenticate} checks: a request to `app`'s path, with its parsed query. */
interface SignedCall {
  method: string;
  path: string;
  query: QueryEntries;
  app: ResolvedPusherApp;
  nowMs: number;
}

/** Checks the signature against the path as sent, then as decoded (a client may sign either). */
function authenticate({ method, path, query, app, nowMs }: SignedCall): void {
  const check = { method, query, key: app.key, secret: app.secret, nowSeconds: Math.floor(nowMs / 1000) };
  const verdict = verifySignature({ ...check, path });
  if (verdict.ok) return;
  let decoded = path;
  try {
    decoded = decodeURI(path);
  } catch {
    // Malformed escapes: only the path as sent can have been signed.
  }
  if (decoded !== path && verifySignature({ ...check, path: decoded }).ok) return;
  throw new Refusal(401, verdict.message);
}

const JSON_TYPE = { "Content-Type": "application/json; charset=utf-8" };
const PLAIN_TYPE = { "Content-Type": "text/plain; charset=utf-8" };

function send(res: ServerResponse, status: number, text: string, headers: Readonly<Record<string, string>>): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...headers, "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/** One request and its response, as a failure is answered and logged. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
}

/** Where failures go: every 5xx is logged; unexpected ones are counted too. */
interface Reporting {
  logger: Logger;
  faults: Pick<Metrics, "unexpectedError"> | undefined;
}

/** Answers a failure in Pusher's form: the status and a plain-text line. Anything unforeseen is a 500. */
function fail({ req, res, path }: Exchange, err: unknown, { logger, faults }: Reporting): void {
  // A body left unread would be drained for keep-alive; close instead.
  const close: Record<string, string> = req.complete ? {} : { Connection: "close" };
  if (err instanceof Refusal || err instanceof PusherApiError) {
    if (err.status >= 500) logger.error({ err, method: req.method, path }, "Pusher API backend refused with 5xx");
    const headers = err instanceof Refusal ? err.headers : {};
    send(res, err.status, `${err.message}\n`, { ...PLAIN_TYPE, ...close, ...headers });
    return;
  }
  faults?.unexpectedError("api");
  logger.error({ err, method: req.method, path }, "Pusher API request failed unexpectedly; answered 500");
  send(res, 500, "Internal server error; see the server's log\n", { ...PLAIN_TYPE, Connection: "close" });
}

/** What {@link serve} needs from its handler. */
interface ServeContext {
  apps: ReadonlyMap<string, ResolvedPusherApp>;
  backend: PusherApiBackend;
  maxBodyBytes: number;
  now: () => number;
}

/** Answers one request: the checks in the order {@link createPusherApiHandler} states, then the route. */
async function serve(context: ServeContext, req: IncomingMessage, path: string): Promise<object> {
  const [appId = "", ...rest] = path.slice(PUSHER_API_PREFIX.length).split("/");
  const found = path.startsWith(PUSHER_API_PREFIX) ? findRoute(rest) : undefined;
  if (found === undefined) throw new Refusal(404, `Not found: ${path} is not a Pusher API endpoint`);
  const app = context.apps.get(appId);
  if (app === undefined) throw new Refusal(404, `Unknown app: no app has the id '${appId}'`);
  const { method } = found.route;
  if (req.method !== method) {
    const message = `Method not allowed: this endpoint takes ${method}, not ${req.method ?? "nothing"}`;
    throw new Refusal(405, message, { Allow: method });
  }
  const url = req.url ?? path;
  const mark = url.indexOf("?");
  const query = parseQuery(mark < 0 ? "" : url.slice(mark + 1));
  authenticate({ method, path, query, app, nowMs: context.now() });
  if (!app.enabled) throw new Refusal(403, "Forbidden: this app is disabled");
  let body: unknown;
  if (method === "POST") {
    const { maxBodyBytes } = context;
    const bytes = await readBody(req, maxBodyBytes, {
      tooLarge: () =>
        new Refusal(413, `Payload too large: the request body is larger than ${maxBodyBytes} bytes`, {
          Connection: "close",
        }),
      cutOff: () => new Refusal(400, "The request body was cut off"),
    });
    const md5 = verifyBodyMd5(query, bytes);
    if (!md5.ok) throw new Refusal(401, md5.message);
    body = parseJson(bytes);
  }
  const params = found.params.map(decode);
  return found.route.handle({ app, params, body, param: (name) => lastValue(query, name) }, context.backend);
}

/**
 * The `/apps/` request handler; `path` is the request's path without its query. Checks, in
 * order: endpoint (404), app id (404), method (405 with `Allow`), signature (401), app enabled
 * (403), body size (413), `body_md5` (401), body (400, 413 for event data over the app's
 * `maxEventBytes`); then asks the backend, whose {@link PusherApiError} answers its status.
 * Any other failure answers 500 and is logged (and counted), never taking the process down.
 */
export function createPusherApiHandler(
  options: PusherApiOptions,
): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  const { backend, logger, faults } = options;
  const reporting = { logger, faults };
  const now = options.now ?? Date.now;
  const apps = new Map(options.apps.map((app) => [app.id, app]));
  const largest = Math.max(0, ...options.apps.map((app) => app.maxEventBytes));
  const maxBodyBytes =
    options.maxBodyBytes ?? Math.max(MIN_DEFAULT_API_BODY_BYTES, 2 * MAX_BATCH_EVENTS * largest + 65_536);
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1)
    throw new TypeError(`maxBodyBytes must be a positive integer, got ${maxBodyBytes}`);
  const context: ServeContext = { apps, backend, maxBodyBytes, now };
  return (req, res, path) => {
    const exchange = { req, res, path };
    serve(context, req, path)
      .then((reply) => JSON.stringify(reply)) // a reply that cannot be encoded fails like a throw: 500
      .then(
        (text) => send(res, 200, text, JSON_TYPE),
        (err: unknown) => fail(exchange, err, reporting),
      )
      // The request's fault boundary: an answer that cannot be written.
      .catch((err: unknown) => {
        faults?.unexpectedError("api");
        logger.error({ err, method: req.method, path }, "Pusher API answer failed; the connection is dropped");
        res.destroy();
      });
  };
}
