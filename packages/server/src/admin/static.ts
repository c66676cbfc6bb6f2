import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { ApiErrorCode } from "../http/api-errors.js";
import { AdminError, SECURITY_HEADERS, sendError } from "./http.js";

/** Where the admin page's files live: `packages/server/public/admin/`. */
export const ADMIN_PUBLIC_DIR = fileURLToPath(new URL("../../public/admin/", import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/** The chart library's files, served beside the page's own from the installed `uplot` package. */
const UPLOT_FILES: Readonly<Record<string, string>> = {
  "uplot.js": "uplot/dist/uPlot.iife.min.js",
  "uplot.css": "uplot/dist/uPlot.min.css",
};

interface StaticFile {
  type: string;
  body: Buffer;
  /** Strong validator: a hash of the body. */
  etag: string;
}

/** The admin page's files by name (`index.html`, `admin.js`, `uplot.js`, …), read once at startup. */
export type AdminFiles = ReadonlyMap<string, StaticFile>;

function fileOf(name: string, body: Buffer): StaticFile | undefined {
  const type = CONTENT_TYPES[extname(name)];
  if (type === undefined) return undefined;
  return { type, body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}

/**
 * Reads the page's files (the top level of `dir`) and the chart library's. Never throws: a
 * missing folder or package is logged once and its files are not served (404).
 */
export async function loadAdminFiles(logger: Logger, dir: string = ADMIN_PUBLIC_DIR): Promise<AdminFiles> {
  const files = new Map<string, StaticFile>();
  try {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = fileOf(entry.name, await readFile(join(dir, entry.name)));
      if (file !== undefined) files.set(entry.name, file);
    }
  } catch (err) {
    logger.warn({ err, dir }, "the admin page's files cannot be read; /admin serves only its API");
  }
  const require = createRequire(import.meta.url);
  for (const [name, module] of Object.entries(UPLOT_FILES)) {
    try {
      const file = fileOf(name, await readFile(require.resolve(module)));
      if (file !== undefined) files.set(name, file);
    } catch (err) {
      logger.warn({ err, module }, "the admin page's chart library is missing; reinstall @hubcast/server");
    }
  }
  return files;
}

/** The file name a path under /admin asks for: `/admin` and `/admin/` are `index.html`; `undefined` for anything in a subfolder. */
function nameOf(path: string): string | undefined {
  const rest = path.slice("/admin".length).replace(/^\//, "");
  if (rest === "") return "index.html";
  return rest.includes("/") ? undefined : rest;
}

/**
 * Serves a page file (GET or HEAD) with the security headers and `Cache-Control: no-cache`,
 * answering 304 to a matching `If-None-Match`. Whether logged in or not: the page shows the
 * login form itself.
 */
export function serveAdminFile(req: IncomingMessage, res: ServerResponse, path: string, files: AdminFiles): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    sendError(res, new AdminError(405, `${path} takes GET, not ${req.method ?? "(none)"}`, { Allow: "GET, HEAD" }));
    return;
  }
  const name = nameOf(path);
  const file = name === undefined ? undefined : files.get(name);
  if (file === undefined) {
    sendError(res, new AdminError(404, `no admin page file at ${path}`, {}, ApiErrorCode.notFound));
    return;
  }
  const headers = { ...SECURITY_HEADERS, "Cache-Control": "no-cache", ETag: file.etag };
  if (req.headers["if-none-match"] === file.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "Content-Type": file.type, "Content-Length": file.body.length });
  res.end(req.method === "HEAD" ? undefined : file.body);
}
