import { ApiError } from "./api-backend.js";

/**
 * Checks of JSON request bodies and query strings shared by the server API and the admin API.
 * Each failure is an {@link ApiError} 400 whose message names the field and what is expected.
 */

const invalid = (message: string): ApiError => new ApiError(400, message);

/** `body` as an object holding only `fields` (any of them may be missing; the caller checks each). */
export function bodyObject(body: unknown, fields: readonly string[]): Record<string, unknown> {
  const expected = fields.map((f) => `"${f}"`).join(", ");
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalid(`the body must be a JSON object with ${expected}`);
  for (const key of Object.keys(body)) {
    if (!fields.includes(key)) throw invalid(`unknown field "${key}"; the body takes ${expected}`);
  }
  return body as Record<string, unknown>;
}

/** The field `name`, which must be a non-empty string. */
export function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== "string" || value === "") throw invalid(`field "${name}" must be a non-empty string`);
  return value;
}

/** Checks that `query` holds only `known` parameters, each at most once; returns a reader of their values. */
export function queryParams(query: URLSearchParams, known: readonly string[]): (name: string) => string | undefined {
  for (const name of new Set(query.keys())) {
    const hint = known.length === 0 ? "this endpoint takes none" : `known: ${known.join(", ")}`;
    if (!known.includes(name)) throw invalid(`unknown query parameter "${name}"; ${hint}`);
    if (query.getAll(name).length > 1) throw invalid(`query parameter "${name}" is given more than once`);
  }
  return (name) => query.get(name) ?? undefined;
}

/** A request body's JSON value: it must be UTF-8, not empty, and valid JSON. */
export function parseJsonBody(bytes: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalid("the body is not valid UTF-8");
  }
  if (text.trim() === "") throw invalid("the body is empty; send a JSON object");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalid(`the body is not valid JSON: ${(err as Error).message}`);
  }
}
