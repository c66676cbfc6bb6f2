import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import { CloseCode } from "@hubcast/protocol";
import type { OriginPolicy } from "../auth/origins.js";
import { ApiErrorCode, apiErrorBody, apiErrorCatalogue } from "../http/api-errors.js";
import type { Refusal } from "./admission.js";

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

/** Refuses a request from a page on an origin the node's `allowedOrigins` does not list (403). */
export function checkOrigin(origins: OriginPolicy, origin: string | undefined): void {
  if (!origins.allows(origin))
    throw new HttpRefusal(ApiErrorCode.forbidden, "this origin is not allowed; add it to the allowedOrigins option");
}

/** The node drains, or cannot serve: a new connection is refused with 503, to be retried in a second. */
export const notAccepting = (): HttpRefusal =>
  new HttpRefusal(ApiErrorCode.unavailable, "node is not accepting connections", 1_000);

/**
 * A connection turned away at the node's door ({@link Admission}), as an HTTP answer: 503 with
 * `Retry-After` past the admission rate, 429 past a per-address limit.
 */
export function admissionRefusal(refusal: Refusal): HttpRefusal {
  const code = refusal.code === CloseCode.tryLater ? ApiErrorCode.unavailable : ApiErrorCode.tooManyConnections;
  return new HttpRefusal(code, refusal.reason, refusal.retryAfterMs);
}

/**
 * The CORS headers of an answer to a page on `origin`, which the node's `allowedOrigins`
 * passed (`allowed`): the origin echoed with credentials, so its cookie may come along.
 */
export function corsHeaders(origin: string | undefined, allowed: boolean): OutgoingHttpHeaders {
  if (origin === undefined || !allowed) return {};
  return { "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", Vary: "Origin" };
}

/**
 * Answers `code` with the API's error body; a response already streaming is cut instead (its
 * client reconnects). A body refused as too large was not read to its end: the connection
 * closes after the answer.
 */
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
    ...(code === ApiErrorCode.payloadTooLarge ? { Connection: "close" } : {}),
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
  });
  res.end(JSON.stringify(apiErrorBody(code, message)));
}

/**
 * The head of a streamed response: Server-Sent Events or NDJSON, never cached, never buffered
 * by nginx (a buffered stream arrives in lumps, late), plus `cors` for a page on another origin.
 */
export function streamHeaders(sse: boolean, cors: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return {
    "Content-Type": sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
    ...cors,
  };
}
