import type { IncomingMessage, ServerResponse } from "node:http";
import type { ClientInfo, JsonValue, StreamPosition } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { ApiBackend } from "../http/api-backend.js";
import { ApiError } from "../http/api-backend.js";
import { ApiErrorCode } from "../http/api-errors.js";
import { readBody } from "../http/body.js";
import { bodyObject, parseJsonBody, queryParams, stringField } from "../http/request-fields.js";
import type { AdminCluster } from "./cluster.js";
import { AdminError, csrfProblem, isHttps, sendError, sendJson } from "./http.js";
import type { LiveStreams } from "./live.js";
import type { LoginLimiter } from "./login-limits.js";
import { CHANNEL_SORTS, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_NAME_LENGTH } from "./questions.js";
import type { ChannelSort } from "./questions.js";
import type { AdminSessions, SessionClaims } from "./session.js";
import { ADMIN_COOKIE, clearedCookie, cookieValues, sessionCookie } from "./session.js";

/** Where the admin API lives. */
export const ADMIN_API_PREFIX = "/admin/api/";

/** Largest body of an admin publish, in bytes (64 KiB); larger ones get 413. */
export const MAX_ADMIN_PUBLISH_BYTES = 65_536;
/** Largest body of the other admin requests (login, disconnect), in bytes. */
export const MAX_ADMIN_BODY_BYTES = 4_096;
/** Publications `GET /admin/api/channel` returns, newest first. */
export const CHANNEL_HISTORY_LIMIT = 50;
/** Most presence entries `GET /admin/api/channel` returns; `presenceTotal` says how many there are. */
export const MAX_PRESENCE_ENTRIES = 1_000;

/** What the admin API works with. */
export interface AdminApiDeps {
  sessions: AdminSessions;
  limiter: LoginLimiter;
  cluster: AdminCluster;
  api: Pick<ApiBackend, "encodeData" | "publish" | "history" | "presence" | "features" | "disconnectUser">;
  live: LiveStreams;
  logger: Logger;
}

/** One admin API request as a route sees it: `body` is parsed JSON (POST only), `claims` the session (routes that need one). */
interface AdminRequest {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  body: unknown;
  claims: SessionClaims | undefined;
}

/** A route's answer: status, JSON body (none for 204) and extra headers; `undefined` when the route answered itself (a stream). */
type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | undefined;

interface Route {
  method: "GET" | "POST";
  /** Needs a valid session cookie. */
  session: boolean;
  /** Largest body read (POST). */
  maxBodyBytes?: number;
  handle(request: AdminRequest, deps: AdminApiDeps): Promise<Reply>;
}

const invalid = (message: string): AdminError => new AdminError(400, message);
const ok = (body: unknown): Reply => ({ status: 200, body });

// ---- body and query checks ----

function prefixParam(value: string | undefined): string {
  if (value !== undefined && value.length > MAX_NAME_LENGTH)
    throw invalid(`query parameter "prefix" is longer than ${MAX_NAME_LENGTH} characters`);
  return value ?? "";
}

function limitParam(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIST_LIMIT;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_LIST_LIMIT)
    throw invalid(`query parameter "limit" must be a whole number from 1 to ${MAX_LIST_LIMIT}, got "${value}"`);
  return n;
}

function sortParam(value: string | undefined): ChannelSort {
  if (value === undefined) return "subscribers";
  if (!(CHANNEL_SORTS as readonly string[]).includes(value))
    throw invalid(`query parameter "sort" must be ${CHANNEL_SORTS.join(" or ")}, got "${value}"`);
  return value as ChannelSort;
}

// ---- endpoints ----

async function login({ req, body }: AdminRequest, { sessions, limiter, logger }: AdminApiDeps): Promise<Reply> {
  const address = req.socket.remoteAddress ?? "";
  const waitMs = limiter.retryAfterMs(address);
  if (waitMs > 0) {
    const seconds = Math.ceil(waitMs / 1000);
    throw new AdminError(
      429,
      `too many failed logins; try again in ${seconds} s`,
      { "Retry-After": String(seconds) },
      ApiErrorCode.tooManyRequests,
    );
  }
  const password = bodyObject(body, ["password"])["password"];
  if (typeof password !== "string") throw invalid('field "password" must be a string');
  if (!sessions.checkPassword(password)) {
    limiter.failed(address); // bounds these lines too: at most 30 a minute per node
    logger.warn({ address }, "admin login failed: wrong password");
    throw new AdminError(401, "wrong password");
  }
  limiter.succeeded(address);
  const { token, claims } = sessions.mint();
  logger.info({ address, session: claims.sid }, "admin logged in");
  return { status: 204, headers: { "Set-Cookie": sessionCookie(token, sessions.ttlMs, isHttps(req)) } };
}

interface HistoryEntry {
  offset: number | undefined;
  epoch: string;
  data: JsonValue;
  info?: ClientInfo;
}

async function channelHistory(
  api: AdminApiDeps["api"],
  name: string,
): Promise<{ history: HistoryEntry[]; position: StreamPosition }> {
  const page = await api.history(name, { limit: CHANNEL_HISTORY_LIMIT, reverse: true });
  const { epoch } = page.position;
  const history = page.publications.map((pub) =>
    pub.info === undefined
      ? { offset: pub.offset, epoch, data: pub.data }
      : { offset: pub.offset, epoch, data: pub.data, info: pub.info },
  );
  return { history, position: page.position };
}

async function channel({ query }: AdminRequest, { api, cluster }: AdminApiDeps): Promise<Reply> {
  const name = queryParams(query, ["name"])("name");
  if (name === undefined || name === "") throw invalid('query parameter "name" is required');
  const features = api.features(name); // 400 for a channel that cannot be used
  const [subscribers, presence, history] = await Promise.all([
    cluster.subscribers(name),
    features.presence ? api.presence(name) : undefined,
    features.historySize > 0 ? channelHistory(api, name) : undefined,
  ]);
  const clients = presence === undefined ? null : Object.values(presence.clients).slice(0, MAX_PRESENCE_ENTRIES);
  return ok({
    name,
    subscribers,
    presence: clients,
    ...(presence === undefined ? {} : { presenceTotal: presence.numClients }),
    history: history?.history ?? [],
    position: history?.position ?? null,
  });
}

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ["login", { method: "POST", session: false, maxBodyBytes: MAX_ADMIN_BODY_BYTES, handle: login }],
  [
    "session",
    {
      method: "GET",
      session: false,
      async handle({ claims }) {
        if (claims === undefined) throw new AdminError(401, "not logged in");
        return ok({ loggedIn: true, expiresAt: claims.exp });
      },
    },
  ],
  [
    "logout",
    {
      method: "POST",
      session: true,
      async handle({ req, claims }, { logger }) {
        logger.info({ session: claims?.sid }, "admin logged out");
        return { status: 204, headers: { "Set-Cookie": clearedCookie(isHttps(req)) } };
      },
    },
  ],
  [
    "cluster",
    {
      method: "GET",
      session: true,
      async handle({ query }, { cluster }) {
        queryParams(query, []);
        return ok(await cluster.cluster());
      },
    },
  ],
  [
    "live",
    {
      method: "GET",
      session: true,
      async handle({ res, query, claims }, { live }) {
        queryParams(query, []);
        if (live.full)
          throw new AdminError(
            503,
            "too many admin live views are open on this node; close one and retry",
            { "Retry-After": "5" },
            ApiErrorCode.unavailable,
          );
        live.open(res, claims?.exp ?? 0);
        return undefined;
      },
    },
  ],
  [
    "channels",
    {
      method: "GET",
      session: true,
      async handle({ query }, { cluster }) {
        const param = queryParams(query, ["prefix", "sort", "limit"]);
        return ok(
          await cluster.channels({
            prefix: prefixParam(param("prefix")),
            sort: sortParam(param("sort")),
            limit: limitParam(param("limit")),
          }),
        );
      },
    },
  ],
  ["channel", { method: "GET", session: true, handle: channel }],
  [
    "publish",
    {
      method: "POST",
      session: true,
      maxBodyBytes: MAX_ADMIN_PUBLISH_BYTES,
      async handle({ body, claims }, { api, logger }) {
        const fields = bodyObject(body, ["channel", "data"]);
        const name = stringField(fields, "channel");
        if (!("data" in fields)) throw invalid('field "data" is required: the JSON value to publish');
        const position = await api.publish(name, api.encodeData(fields["data"] as JsonValue));
        logger.info({ session: claims?.sid, channel: name }, "admin published");
        return ok(position === undefined ? {} : { position });
      },
    },
  ],
  [
    "users",
    {
      method: "GET",
      session: true,
      async handle({ query }, { cluster }) {
        const param = queryParams(query, ["prefix", "limit"]);
        return ok(await cluster.users({ prefix: prefixParam(param("prefix")), limit: limitParam(param("limit")) }));
      },
    },
  ],
  [
    "disconnect",
    {
      method: "POST",
      session: true,
      maxBodyBytes: MAX_ADMIN_BODY_BYTES,
      async handle({ body, claims }, { api, logger }) {
        const user = stringField(bodyObject(body, ["user"]), "user");
        await api.disconnectUser(user);
        logger.info({ session: claims?.sid, user }, "admin disconnected a user");
        return ok({ disconnected: true });
      },
    },
  ],
]);

/** The admin API's endpoint names (under {@link ADMIN_API_PREFIX}), for docs and tests. */
export const ADMIN_API_ENDPOINTS: readonly string[] = [...ROUTES.keys()];

// ---- HTTP plumbing ----

/** The session the request's cookie holds, when one of its `hubcast_admin` cookies is valid. */
function sessionOf(req: IncomingMessage, sessions: AdminSessions): SessionClaims | undefined {
  for (const token of cookieValues(req.headers.cookie, ADMIN_COOKIE)) {
    const claims = sessions.verify(token);
    if (claims !== undefined) return claims;
  }
  return undefined;
}

function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = (): AdminError =>
    new AdminError(413, `the body is larger than ${maxBytes} bytes`, { Connection: "close" });
  const cutOff = (): AdminError => invalid("the request body was cut off");
  return readBody(req, maxBytes, { tooLarge, cutOff }).then(parseJsonBody);
}

async function serve(req: IncomingMessage, res: ServerResponse, path: string, deps: AdminApiDeps): Promise<Reply> {
  const name = path.slice(ADMIN_API_PREFIX.length);
  const route = path.startsWith(ADMIN_API_PREFIX) ? ROUTES.get(name) : undefined;
  if (route === undefined) {
    const known = ADMIN_API_ENDPOINTS.map((e) => `${ADMIN_API_PREFIX}${e}`).join(", ");
    throw new AdminError(404, `no admin API endpoint ${path}; the endpoints are ${known}`);
  }
  if (req.method !== route.method)
    throw new AdminError(405, `${path} takes ${route.method}, not ${req.method ?? "(none)"}`, { Allow: route.method });
  if (route.method !== "GET") {
    const problem = csrfProblem(req);
    if (problem !== undefined) throw new AdminError(403, problem);
  }
  const claims = sessionOf(req, deps.sessions);
  if (route.session && claims === undefined) throw new AdminError(401, "not logged in, or the session expired");
  const query = new URL(req.url ?? path, "http://localhost").searchParams;
  const body =
    route.method === "POST" && route.maxBodyBytes !== undefined ? await readJson(req, route.maxBodyBytes) : undefined;
  return route.handle({ req, res, query, body, claims }, deps);
}

/**
 * The `/admin/api/` request handler. Answers are JSON with the security headers and
 * `Cache-Control: no-store`; failures carry the server API's error body. Unexpected errors go
 * to `fail` (the node's fault boundary: 500, logged and counted).
 */
export function createAdminApi(
  deps: AdminApiDeps,
  fail: (req: IncomingMessage, res: ServerResponse, err: unknown) => void,
): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  return (req, res, path) => {
    serve(req, res, path, deps)
      .then(
        (reply) => {
          if (reply !== undefined) sendJson(res, reply.status, reply.body, reply.headers);
        },
        (err: unknown) => {
          if (!(err instanceof ApiError)) throw err;
          if (err.status >= 500 && !err.logged) deps.logger.error({ err, path }, "admin API request failed");
          // A body left unread would be drained for keep-alive; close instead.
          sendError(res, err, req.complete ? {} : { Connection: "close" });
        },
      )
      .catch((err: unknown) => fail(req, res, err));
  };
}
