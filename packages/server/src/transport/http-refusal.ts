import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { ApiErrorCode } from "../http/api-errors.js";
import { apiErrorBody, apiErrorCatalogue } from "../http/api-errors.js";

/**
 * Why an HTTP transport request (a stream, an emulated connection, a POST of frames) is
 * refused: answered with the code's status and the API's error body, before any byte of a
 * stream. `retryAfterMs` becomes a `Retry-After` header.
 */
export class HttpRefusal extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * The CORS headers of an answer to a page on `origin`, which the node's `allowedOrigins`
 * passed (`allowed`): the origin echoed with credentials, so its cookie may come along.
 */
export function corsHeaders(origin: string | undefined, allowed: boolean): OutgoingHttpHeaders {
  if (origin === undefined || !allowed) return {};
  return { "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", Vary: "Origin" };
}

/** Answers `code` with the API's error body; a response already streaming is cut instead (its client reconnects). */
export function answerError(
  res: ServerResponse,
  code: ApiErrorCode,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(apiErrorCatalogue[code].status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
  });
  res.end(JSON.stringify(apiErrorBody(code, message)));
}
