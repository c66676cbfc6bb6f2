/**
 * The server API's error codes: every failure body is `{"error": {"code": "<code>", "message": "<text>"}}`
 * (see {@link apiErrorBody}). Programs branch on `code` (and the status); the message is for people
 * and may change. docs/api.md has the same table, checked by a test in both directions.
 */
export const ApiErrorCode = {
  badRequest: "bad_request",
  unauthorized: "unauthorized",
  forbidden: "forbidden",
  notFound: "not_found",
  methodNotAllowed: "method_not_allowed",
  payloadTooLarge: "payload_too_large",
  unsupportedMediaType: "unsupported_media_type",
  internal: "internal",
  publishExpired: "publish_expired",
  outcomeUnknown: "outcome_unknown",
  tooManyConnections: "too_many_connections",
  unavailable: "unavailable",
  tooManyRequests: "too_many_requests",
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** Each code's HTTP status and whether retrying the same request may succeed. */
export const apiErrorCatalogue: Readonly<Record<ApiErrorCode, { status: number; retry: boolean; meaning: string }>> = {
  bad_request: {
    status: 400,
    retry: false,
    meaning: "A field or query parameter is missing or invalid, or the channel cannot be used; nothing was done.",
  },
  unauthorized: {
    status: 401,
    retry: false,
    meaning: "The API key is missing, malformed or wrong; for a stream, its token is invalid or expired.",
  },
  forbidden: {
    status: 403,
    retry: false,
    meaning: "A stream's client may not subscribe to a channel it asked for, or its origin is not allowed.",
  },
  not_found: { status: 404, retry: false, meaning: "No such endpoint, or the API is off on this node." },
  method_not_allowed: { status: 405, retry: false, meaning: "The endpoint takes another method; `Allow` names it." },
  payload_too_large: { status: 413, retry: false, meaning: "The body is larger than 1 MiB." },
  unsupported_media_type: {
    status: 415,
    retry: false,
    meaning: "The body is not sent as `Content-Type: application/json`.",
  },
  internal: {
    status: 500,
    retry: true,
    meaning:
      "Something failed on the node or its engine (for example Redis is unreachable); a publish was not made. Retry later.",
  },
  publish_expired: {
    status: 500,
    retry: true,
    meaning: "The publish reached the engine after its deadline (`publishTimeoutMs`) and was not made. Retry.",
  },
  outcome_unknown: {
    status: 503,
    retry: true,
    meaning:
      "No answer from the engine in time: the publish may or may not have been made, and will not be made later. Retry with the same `idempotencyKey`.",
  },
  too_many_connections: {
    status: 429,
    retry: true,
    meaning: "A stream was refused: its address or user holds as many connections as the node allows.",
  },
  unavailable: {
    status: 503,
    retry: true,
    meaning:
      "A stream was refused: the node is draining, not ready, or admitting connections at its limit. `Retry-After` says when to try again.",
  },
  too_many_requests: {
    status: 429,
    retry: true,
    meaning:
      "An admin login was refused: too many failed logins from the address or on the node lately. `Retry-After` says when to try again.",
  },
};

const BY_STATUS: ReadonlyMap<number, ApiErrorCode> = new Map([
  [400, ApiErrorCode.badRequest],
  [401, ApiErrorCode.unauthorized],
  [403, ApiErrorCode.forbidden],
  [429, ApiErrorCode.tooManyConnections],
  [404, ApiErrorCode.notFound],
  [405, ApiErrorCode.methodNotAllowed],
  [413, ApiErrorCode.payloadTooLarge],
  [415, ApiErrorCode.unsupportedMediaType],
]);

/** The code a status stands for (below 500: the first code listed with it); `internal` otherwise. */
export const codeForStatus = (status: number): ApiErrorCode => BY_STATUS.get(status) ?? ApiErrorCode.internal;

/** What a failure carries: `code` from the catalogue for programs, `message` for people. */
export interface ApiErrorDetail {
  code: ApiErrorCode;
  message: string;
}

/** The body of every error answer a node gives: `{"error": {"code", "message"}}`. */
export interface ApiErrorBody {
  error: ApiErrorDetail;
}

/** The one place the error body's shape is made, so every answer carries the same one. */
export const apiErrorBody = (code: ApiErrorCode, message: string): ApiErrorBody => ({ error: { code, message } });
