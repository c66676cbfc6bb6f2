import { readFile, readdir } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { Metrics, ScrapeSource } from "../metrics.js";
import { serveMetrics } from "../metrics.js";
import type { ApiBackend } from "./api-backend.js";
import { createApiHandler } from "./api.js";
import { ApiErrorCode, apiErrorBody } from "./api-errors.js";
import { failRequest } from "./fault.js";
import { SDK_PREFIX, loadSdkFiles, serveSdk } from "./sdk-files.js";
import type { EmulationEndpoints } from "../transport/emulation.js";
import { EMULATION_PATH, EMULATION_SEND_PATH } from "../transport/emulation.js";
import type { StreamEndpoints } from "../transport/streams.js";
import { STREAM_PATHS } from "../transport/streams.js";
import { PUSHER_API_PREFIX } from "../pusher/http-api.js";
import { isAdminPath } from "../admin/service.js";

/** Where the demo page lives. */
export const PUBLIC_DIR = fileURLToPath(new URL("../../public/", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** What the HTTP routes need from the node. */
export interface HttpState {
  /** Ready to take connections: listening, engine up, not shutting down. */
  isReady(): boolean;
  demo: boolean;
  /** The server API's operations, served under /api/ when `apiKey` is set. */
  api: ApiBackend;
  apiKey: string;
  logger: Logger;
  /** Where the fault boundaries count the unexpected errors they catch. */
  faults: Pick<Metrics, "unexpectedError">;
  /** What /metrics serves (no authentication): the node's own metrics, or a cluster worker's whole-cluster scrape; `undefined`: /metrics answers 404. */
  metrics: ScrapeSource | undefined;
  /** The one-way streams, `GET /sse` and `GET /stream`. */
  streams: StreamEndpoints;
  /** The two-way emulations for networks that break WebSockets, `/emulation` and `/emulation/send`. */
  emulation: EmulationEndpoints;
  /** The Pusher HTTP API under /apps/, when the node serves Pusher apps; `undefined`: /apps/ answers 404. */
  pusherApi?: (req: IncomingMessage, res: ServerResponse, path: string) => void;
  /** The admin UI under /admin, when the node has an `adminPassword`; `undefined`: every /admin path answers 404. */
  admin?: (req: IncomingMessage, res: ServerResponse, path: string) => void;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
  res.end(text);
}

/** Loads the static files once: the public folder is small and fixed at install time. */
async function loadStatic(): Promise<Map<string, { type: string; body: Buffer }>> {
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of await readdir(PUBLIC_DIR)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type === undefined) continue;
    files.set(`/${name}`, { type, body: await readFile(join(PUBLIC_DIR, name)) });
  }
  const index = files.get("/index.html");
  if (index !== undefined) files.set("/", index);
  return files;
}

/**
 * The node's HTTP request handler: health, readiness, metrics, the server API under /api/, the
 * one-way streams (/sse, /stream), the two-way emulations (/emulation), the browser SDK under
 * /sdk/, the admin UI under /admin when it is on, and the demo when it is on.
 */
export async function createRequestHandler(
  state: HttpState,
): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const files = state.demo ? await loadStatic() : new Map<string, { type: string; body: Buffer }>();
  const sdk = await loadSdkFiles(state.logger);
  const api = createApiHandler(state);
  const route = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (path === "/api" || path.startsWith("/api/")) {
      api(req, res, path);
      return;
    }
    if (isAdminPath(path)) {
      if (state.admin === undefined)
        sendJson(
          res,
          404,
          apiErrorBody(
            ApiErrorCode.notFound,
            "the admin UI is off on this node; start it with --admin-password <password> (or HUBCAST_ADMIN_PASSWORD) to turn it on",
          ),
        );
      else state.admin(req, res, path);
      return;
    }
    if (state.pusherApi !== undefined && path.startsWith(PUSHER_API_PREFIX)) {
      state.pusherApi(req, res, path);
      return;
    }
    if (path === EMULATION_PATH || path === EMULATION_SEND_PATH) {
      state.emulation.handle(req, res, path);
      return;
    }
    const stream = STREAM_PATHS.get(path);
    if (stream !== undefined) {
      state.streams.handle(req, res, stream);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(res, 405, apiErrorBody(ApiErrorCode.methodNotAllowed, "method not allowed"));
      return;
    }
    if (path === "/healthz") {
      sendJson(res, 200, { status: "ok" });
      return;
    }
    if (path === "/readyz") {
      const ready = state.isReady();
      sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready" });
      return;
    }
    if (path === "/metrics") {
      if (state.metrics === undefined)
        sendJson(
          res,
          404,
          apiErrorBody(
            ApiErrorCode.notFound,
            "metrics are off on this node; start it with metrics on (the default) to serve them",
          ),
        );
      else serveMetrics(res, state.metrics, state.logger);
      return;
    }
    if (path.startsWith(SDK_PREFIX)) {
      serveSdk(req, res, path, sdk);
      return;
    }
    const file = files.get(path);
    if (file === undefined) {
      sendJson(res, 404, apiErrorBody(ApiErrorCode.notFound, `no route for ${path}`));
      return;
    }
    res.writeHead(200, { "Content-Type": file.type, "Content-Length": file.body.length });
    res.end(req.method === "HEAD" ? undefined : file.body);
  };
  // The request's fault boundary: a throw here would otherwise reach the process.
  return (req, res) => {
    try {
      route(req, res);
    } catch (err) {
      failRequest(state, req, res, err);
    }
  };
}
