import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { ApiError } from "../http/api-backend.js";
import type { ApiErrorCode } from "../http/api-errors.js";
import { apiErrorBody } from "../http/api-errors.js";

/** The admin UI's Content-Security-Policy: only its own scripts, styles and connections; no frames, no inline code. */
export const ADMIN_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Headers every `/admin` response carries. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Security-Policy": ADMIN_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
});

/** The header every state-changing admin request must carry (a cross-site form cannot set it). */
export const CSRF_HEADER = "x-hubcast-admin";

/** An admin request that cannot be served, with the headers its answer needs (`Retry-After`, `Allow`, `Connection`). */
export class AdminError extends ApiError {
  constructor(
    status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    code?: ApiErrorCode,
  ) {
    super(status, message, { code });
  }
}

/**
 * JSON with `<`, `>`, `&` and the line separators escaped as `\u` sequences: the same value
 * for a JSON parser, but nothing a browser sniffing it as HTML could read as markup.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Answers with a JSON body (or none for 204), the security headers and `Cache-Control: no-store`. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) return;
  const common = { ...SECURITY_HEADERS, ...headers, "Cache-Control": "no-store" };
  if (status === 204 || body === undefined) {
    res.writeHead(status, common);
    res.end();
    return;
  }
  res.writeHead(status, { ...common, "Content-Type": "application/json; charset=utf-8" });
  res.end(safeJson(body));
}

/** Answers with `err`'s status and the usual error body. */
export function sendError(res: ServerResponse, err: ApiError, headers: Readonly<Record<string, string>> = {}): void {
  const own = err instanceof AdminError ? err.headers : {};
  sendJson(res, err.status, apiErrorBody(err.code, err.message), { ...headers, ...own });
}

/** Whether the client reached the node over HTTPS: a TLS socket, or a proxy saying so with `X-Forwarded-Proto: https`. */
export function isHttps(req: IncomingMessage): boolean {
  if ((req.socket as Partial<TLSSocket>).encrypted === true) return true;
  const forwarded = req.headers["x-forwarded-proto"];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",", 1)[0]?.trim().toLowerCase();
  return first === "https";
}

/** The request's own origin, `scheme://host[:port]` from its `Host` header; `undefined` without one. */
export function ownOrigin(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (host === undefined || host === "") return undefined;
  return `${isHttps(req) ? "https" : "http"}://${host.toLowerCase()}`;
}

/**
 * Why a state-changing request must be refused as a possible cross-site request, or `undefined`
 * when it may go on: it must carry `X-Hubcast-Admin: 1`, and an `Origin` header, when present,
 * must be the request's own origin.
 */
export function csrfProblem(req: IncomingMessage): string | undefined {
  if (req.headers[CSRF_HEADER] !== "1")
    return "send the header X-Hubcast-Admin: 1 with every admin request that changes something";
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  if (origin.toLowerCase() !== ownOrigin(req)) return "the request's Origin is not this node's own origin";
  return undefined;
}
