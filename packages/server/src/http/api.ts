import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { JsonValue, StreamPosition } from "@hubcast/protocol";
import { MAX_EPOCH_LENGTH, MAX_IDEMPOTENCY_KEY_LENGTH } from "@hubcast/protocol";
import { readBody } from "./body.js";
import { ApiError } from "./api-backend.js";
import { ApiErrorCode, apiErrorBody } from "./api-errors.js";
import type { HttpState } from "./routes.js";
import { failRequest } from "./fault.js";
import { bodyObject, parseJsonBody, queryParams, stringField } from "./request-fields.js";

/** What the server API needs from the node. An empty `apiKey` turns the API off. */
export type ApiState = Pick<HttpState, "api" | "apiKey" | "logger" | "faults">;

/** Largest request body the API reads, in bytes (1 MiB); larger ones get 413. */
export const MAX_API_BODY_BYTES = 1_048_576;

/** Most channels one `/api/broadcast` may name. */
export const MAX_BROADCAST_CHANNELS = 1_000;

/** An API failure that carries response headers too (`WWW-Authenticate`, `Allow`, `Connection`). */
class HttpError extends ApiError {
  constructor(
    status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(status, message);
  }
}

const invalid = (message: string): HttpError => new HttpError(400, message);

/** One API request as the endpoint handlers see it: the body is parsed JSON (POST only). */
interface ApiRequest {
  path: string;
  query: URLSearchParams;
  body: unknown;
}

type Reply = Record<string, unknown>;

interface Route {
  method: "GET" | "POST";
  handle(request: ApiRequest, state: ApiState): Promise<Reply>;
}

// ---- body and query checks: each failure says which field and what is expected ----

/** The `data` field checked against the node's data limits and encoded once, however many channels get it. */
function dataField(body: Record<string, unknown>, api: ApiState["api"]): Uint8Array {
  if (!("data" in body)) throw invalid('field "data" is required: the JSON value to publish');
  return api.encodeData(body["data"] as JsonValue); // parsed from JSON, so it is a JSON value
}

/** The optional `idempotencyKey`: 1 to 64 characters, as in the client protocol. */
function idempotencyKeyField(body: Record<string, unknown>): string | undefined {
  const value = body["idempotencyKey"];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalid(`field "idempotencyKey" must be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  return value;
}

function channelsField(body: Record<string, unknown>): string[] {
  const value = body["channels"];
  const expected = `an array of 1 to ${MAX_BROADCAST_CHANNELS} distinct channel names`;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_BROADCAST_CHANNELS) {
    throw invalid(`field "channels" must be ${expected}`);
  }
  const seen = new Set<string>();
  value.forEach((channel: unknown, i) => {
    if (typeof channel !== "string" || channel === "")
      throw invalid(`field "channels[${i}]" must be a non-empty string`);
    if (seen.has(channel)) throw invalid(`field "channels" names "${channel}" twice; it must be ${expected}`);
    seen.add(channel);
  });
  return [...seen];
}

function requiredParam(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw invalid(`query parameter "${name}" is required`);
  return value;
}

function countParam(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw invalid(`query parameter "${name}" must be a non-negative integer, got "${value}"`);
  return n;
}

function booleanParam(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== "true" && value !== "false")
    throw invalid(`query parameter "${name}" must be true or false, got "${value}"`);
  return value === "true";
}

function sinceParams(offset: string | undefined, epoch: string | undefined): StreamPosition | undefined {
  if (offset === undefined && epoch === undefined) return undefined;
  if (offset === undefined || epoch === undefined || epoch === "") {
    throw invalid(
      'query parameters "since_offset" and "since_epoch" go together: give both (a position from an earlier reply) or neither',
    );
  }
  if (epoch.length > MAX_EPOCH_LENGTH)
    throw invalid(`query parameter "since_epoch" is longer than ${MAX_EPOCH_LENGTH} characters`);
  return { offset: countParam(offset, "since_offset") ?? 0, epoch };
}

// ---- endpoints ----

const withPosition = (channel: string, position: StreamPosition | undefined): Reply =>
  position === undefined ? { channel } : { channel, position };

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  [
    "/api/publish",
    {
      method: "POST",
      async handle({ body }, { api }) {
        const fields = bodyObject(body, ["channel", "data", "idempotencyKey"]);
        const position = await api.publish(
          stringField(fields, "channel"),
          dataField(fields, api),
          idempotencyKeyField(fields),
        );
        return position === undefined ? {} : { position };
      },
    },
  ],
  [
    "/api/broadcast",
    {
      method: "POST",
      async handle({ body, path }, { api, logger }) {
        const fields = bodyObject(body, ["channels", "data", "idempotencyKey"]);
        const channels = channelsField(fields);
        const data = dataField(fields, api);
        // Keys are per channel, so one key covers the whole broadcast: a retry repeats none.
        const key = idempotencyKeyField(fields);
        const results = await Promise.all(
          channels.map(async (channel) => {
            try {
              return withPosition(channel, await api.publish(channel, data, key));
            } catch (err) {
              if (err instanceof ApiError) return { channel, ...apiErrorBody(err.code, err.message) };
              logger.error({ err, path, channel }, "server API broadcast to a channel failed");
              return { channel, ...apiErrorBody(ApiErrorCode.internal, "internal error; see the node's log") };
            }
          }),
        );
        return { results };
      },
    },
  ],
  [
    "/api/history",
    {
      method: "GET",
      async handle({ query }, { api }) {
        const param = queryParams(query, ["channel", "limit", "reverse", "since_offset", "since_epoch"]);
        const channel = requiredParam(param("channel"), "channel");
        const page = await api.history(channel, {
          limit: countParam(param("limit"), "limit"),
          reverse: booleanParam(param("reverse"), "reverse"),
          since: sinceParams(param("since_offset"), param("since_epoch")),
        });
        return { publications: page.publications, epoch: page.position.epoch, offset: page.position.offset };
      },
    },
  ],
  [
    "/api/presence",
    {
      method: "GET",
      async handle({ query }, { api }) {
        const param = queryParams(query, ["channel"]);
        return { ...(await api.presence(requiredParam(param("channel"), "channel"))) };
      },
    },
  ],
  [
    "/api/channels",
    {
      method: "GET",
      async handle({ query }, { api }) {
        queryParams(query, []);
        return { ...(await api.channels()) };
      },
    },
  ],
  [
    "/api/nodes",
    {
      method: "GET",
      async handle({ query }, { api }) {
        queryParams(query, []);
        return { nodes: await api.nodes() };
      },
    },
  ],
  [
    "/api/disconnect",
    {
      method: "POST",
      async handle({ body }, { api }) {
        await api.disconnectUser(stringField(bodyObject(body, ["user"]), "user"));
        return {};
      },
    },
  ],
]);

/** The API's endpoint paths, for docs and tests. */
export const API_PATHS: readonly string[] = [...ROUTES.keys()];

// ---- HTTP plumbing ----

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** Checks `Authorization: Bearer <key>`. Digests have equal lengths, so the comparison leaks neither content nor length. */
function authorize(header: string | undefined, keyDigest: Buffer): void {
  if (header === undefined || header === "") {
    throw new HttpError(401, "missing API key: send the header Authorization: Bearer <key>", {
      "WWW-Authenticate": "Bearer",
    });
  }
  const token = /^Bearer +(\S+) *$/i.exec(header)?.[1];
  if (token === undefined) {
    throw new HttpError(401, 'the Authorization header must be "Bearer <key>"', {
      "WWW-Authenticate": 'Bearer error="invalid_request"',
    });
  }
  if (!timingSafeEqual(sha256(token), keyDigest)) {
    throw new HttpError(401, "wrong API key: use the key the node was started with (--api-key or HUBCAST_API_KEY)", {
      "WWW-Authenticate": 'Bearer error="invalid_token"',
    });
  }
}

const tooLarge = (): HttpError =>
  new HttpError(413, `the body is larger than ${MAX_API_BODY_BYTES} bytes (1 MiB); send less data per request`, {
    Connection: "close",
  });

/** Reads and parses a JSON body of at most {@link MAX_API_BODY_BYTES}. */
function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const contentType = req.headers["content-type"];
  if (contentType?.split(";", 1)[0]?.trim().toLowerCase() !== "application/json") {
    const got = contentType === undefined ? "none" : `"${contentType}"`;
    return Promise.reject(new HttpError(415, `send the body as JSON with Content-Type: application/json (got ${got})`));
  }
  const cutOff = (): HttpError => invalid("the request body was cut off");
  return readBody(req, MAX_API_BODY_BYTES, { tooLarge, cutOff }).then(parseJsonBody);
}

async function serve(
  req: IncomingMessage,
  path: string,
  state: ApiState,
  keyDigest: Buffer | undefined,
): Promise<Reply> {
  if (keyDigest === undefined) {
    throw new HttpError(
      404,
      "the server API is off on this node; start it with --api-key <key> (or HUBCAST_API_KEY) to turn it on",
    );
  }
  authorize(req.headers.authorization, keyDigest);
  const route = ROUTES.get(path);
  if (route === undefined)
    throw new HttpError(404, `no API endpoint ${path}; the endpoints are ${API_PATHS.join(", ")}`);
  if (req.method !== route.method) {
    throw new HttpError(405, `${path} takes ${route.method}, not ${req.method ?? "(none)"}`, { Allow: route.method });
  }
  const query = new URL(req.url ?? path, "http://localhost").searchParams;
  const body = route.method === "POST" ? await readJsonBody(req) : undefined;
  return route.handle({ path, query, body }, state);
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...headers, "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}

/**
 * The `/api/` request handler. Every answer is a JSON object; failures are
 * `{"error": {"code": "<catalogue code>", "message": "<what to fix>"}}` with the matching status. Unexpected errors answer 500 and are
 * logged at error level with the path (never the key or the headers).
 */
export function createApiHandler(state: ApiState): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  const keyDigest = state.apiKey === "" ? undefined : sha256(state.apiKey);
  return (req, res, path) => {
    serve(req, path, state, keyDigest)
      .then(
        (reply) => send(res, 200, reply),
        (err: unknown) => {
          // A body left unread would be drained for keep-alive; close instead.
          const close: Record<string, string> = req.complete ? {} : { Connection: "close" };
          if (err instanceof ApiError) {
            if (err.status >= 500 && !err.logged)
              state.logger.error({ err, path, method: req.method }, "server API request failed");
            send(res, err.status, apiErrorBody(err.code, err.message), {
              ...close,
              ...(err instanceof HttpError ? err.headers : {}),
            });
            return;
          }
          throw err;
        },
      )
      // The request's fault boundary: an unexpected error, or a reply that cannot be encoded.
      .catch((err: unknown) => failRequest(state, req, res, err));
  };
}
