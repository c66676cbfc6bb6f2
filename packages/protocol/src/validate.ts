import { ErrorCode } from "./codes.js";
import type { Command, DeltaType, HistoryRequest, JsonValue, Method, StreamPosition } from "./frames.js";
import { DELTA_TYPES, METHODS } from "./frames.js";

/** What a client frame turned out to be once parsed and checked. */
export type ClientFrame =
  | { kind: "command"; command: Command }
  | { kind: "pong" }
  /** Unusable frame. With an `id` it gets an error reply; without one the connection is closed. */
  | { kind: "invalid"; id?: number; code: number; message: string };

/** Longest idempotency key of a publish, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 64;

/** Longest epoch string accepted in a position; epochs the server makes are far shorter. */
export const MAX_EPOCH_LENGTH = 64;

class FieldError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function field<T>(
  obj: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
  want: string,
): T | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (!check(v)) throw new FieldError(`field "${key}" must be ${want}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";
const isDeltaType = (v: unknown): v is DeltaType => (DELTA_TYPES as readonly unknown[]).includes(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function requireChannel(obj: Record<string, unknown>): string {
  const channel = field(obj, "channel", isString, "a string");
  if (channel === undefined || channel === "") throw new FieldError(`field "channel" is required`);
  return channel;
}

function idempotencyKey(obj: Record<string, unknown>): string | undefined {
  const want = `a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`;
  const key = field(obj, "idempotencyKey", isString, want);
  if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH))
    throw new FieldError(`field "idempotencyKey" must be ${want}`);
  return key;
}

function position(obj: Record<string, unknown>, key: string): StreamPosition | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new FieldError(`field "${key}" must be an object {offset, epoch}`);
  const offset = field(v, "offset", isCount, "a non-negative integer");
  const epoch = field(v, "epoch", isString, "a string");
  if (offset === undefined || epoch === undefined) throw new FieldError(`field "${key}" needs both offset and epoch`);
  if (epoch.length > MAX_EPOCH_LENGTH) throw new FieldError(`field "${key}.epoch" is longer than ${MAX_EPOCH_LENGTH}`);
  return { offset, epoch };
}

function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** Checks one method's request body and returns a clean copy holding only known fields. */
function parseRequest(method: Method, body: Record<string, unknown>): Command["request"] {
  switch (method) {
    case "connect":
      return defined({
        token: field(body, "token", isString, "a string"),
        name: field(body, "name", isString, "a string"),
        version: field(body, "version", isString, "a string"),
      });
    case "subscribe":
      return defined({
        channel: requireChannel(body),
        since: position(body, "since"),
        token: field(body, "token", isString, "a string"),
        delta: field(body, "delta", isDeltaType, `one of ${DELTA_TYPES.map((t) => `"${t}"`).join(", ")}`),
      });
    case "publish":
      if (!("data" in body) || body["data"] === undefined) throw new FieldError(`field "data" is required`);
      return defined({
        channel: requireChannel(body),
        data: body["data"] as JsonValue,
        idempotencyKey: idempotencyKey(body),
      });
    case "history":
      return defined<HistoryRequest>({
        channel: requireChannel(body),
        limit: field(body, "limit", isCount, "a non-negative integer"),
        since: position(body, "since"),
        reverse: field(body, "reverse", isBoolean, "a boolean"),
      });
    case "refresh": {
      const token = field(body, "token", isString, "a string");
      if (token === undefined || token === "") throw new FieldError(`field "token" is required`);
      return { token };
    }
    case "unsubscribe":
    case "presence":
    case "presence_stats":
      return { channel: requireChannel(body) };
  }
}

/**
 * Turns a parsed JSON value into a client frame: a checked command, a pong, or the reason it
 * is unusable. Never throws.
 */
export function parseClientFrame(value: unknown): ClientFrame {
  if (!isObject(value)) return { kind: "invalid", code: ErrorCode.badRequest, message: "frame must be a JSON object" };
  const id = value["id"];
  if (id === undefined) {
    if (isObject(value["pong"])) return { kind: "pong" };
    return { kind: "invalid", code: ErrorCode.badRequest, message: 'command has no "id"' };
  }
  if (!Number.isSafeInteger(id) || (id as number) <= 0) {
    return { kind: "invalid", code: ErrorCode.badRequest, message: '"id" must be a positive integer' };
  }
  const cmdId = id as number;
  const keys = Object.keys(value).filter((k) => k !== "id");
  if (keys.length !== 1) {
    return {
      kind: "invalid",
      id: cmdId,
      code: ErrorCode.badRequest,
      message: "command must hold exactly one method key",
    };
  }
  const method = keys[0] as string;
  if (!(METHODS as readonly string[]).includes(method)) {
    return {
      kind: "invalid",
      id: cmdId,
      code: ErrorCode.methodNotFound,
      message: `unknown method "${method.slice(0, 64)}"`,
    };
  }
  const body = value[method];
  if (!isObject(body)) {
    return { kind: "invalid", id: cmdId, code: ErrorCode.badRequest, message: `"${method}" must be an object` };
  }
  try {
    const request = parseRequest(method as Method, body);
    return { kind: "command", command: { id: cmdId, method, request } as Command };
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    return { kind: "invalid", id: cmdId, code: ErrorCode.badRequest, message: `${method}: ${err.message}` };
  }
}
