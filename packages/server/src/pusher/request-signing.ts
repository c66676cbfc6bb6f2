/**
 * Pusher HTTP API request signatures (`auth_version=1.0`), as Pusher's own verifier
 * (pusher-signature) checks them: the query carries `auth_key`, `auth_timestamp`,
 * `auth_version`, `body_md5` (when there is a body) and `auth_signature`, the hex
 * HMAC-SHA256 under the app's secret of `METHOD\n/path\nparams`, where params are every query
 * parameter but `auth_signature`, keys lowercased, sorted by key, joined `k=v&...`, neither
 * keys nor values URL-escaped (the decoded values are signed). Pure functions; the clock is
 * the caller's.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** The only `auth_version` there is. */
export const AUTH_VERSION = "1.0";

/** A request's `auth_timestamp` must be less than this many seconds from the server's clock. */
export const TIMESTAMP_GRACE_SECONDS = 600;

/** A query string's parameters in order, decoded as a form (`%XX`, `+` for a space). */
export type QueryEntries = readonly (readonly [string, string])[];

/** A check's outcome: `message` is Pusher's plain-text explanation, safe to answer the caller. */
export type SigningVerdict = { ok: true } | { ok: false; message: string };

/** Parses a raw query string (without `?`) the way the signer's values are compared: decoded. */
export const parseQuery = (query: string): QueryEntries => [...new URLSearchParams(query)];

/**
 * The string a request's signature covers. Array parameters (`channels[]=a&channels[]=b`)
 * sort under their name and keep their order; a name given twice keeps its last value.
 */
export function stringToSign(method: string, path: string, query: QueryEntries): string {
  const params = new Map<string, string | string[]>();
  for (const [rawKey, value] of query) {
    const key = rawKey.toLowerCase();
    if (key === "auth_signature") continue;
    if (key.endsWith("[]")) {
      const name = key.slice(0, -2);
      const list = params.get(name);
      if (Array.isArray(list)) list.push(value);
      else params.set(name, [value]);
    } else {
      params.set(key, value);
    }
  }
  const names = [...params.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const pairs = names.flatMap((name) => {
    const value = params.get(name) ?? "";
    return Array.isArray(value) ? value.map((item) => `${name}[]=${item}`) : [`${name}=${value}`];
  });
  return `${method.toUpperCase()}\n${path}\n${pairs.join("&")}`;
}

/** The hex HMAC-SHA256 of `text` under `secret`: a request's `auth_signature`. */
export const signString = (secret: string, text: string): string =>
  createHmac("sha256", secret).update(text, "utf8").digest("hex");

/** The hex MD5 of a body: its `body_md5`. */
export const bodyMd5 = (body: Uint8Array): string => createHash("md5").update(body).digest("hex");

/** Compares hex digests in constant time; the expected one's length is public (64 or 32). */
function sameDigest(given: string, expected: string): boolean {
  const a = Buffer.from(given, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Seconds since the epoch as Pusher writes them in its messages: `2013-09-29T08:46:33Z`. */
const iso = (seconds: number): string => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** What {@link verifySignature} checks a request against. */
export interface SignatureCheck {
  method: string;
  /** The path as the request gave it, e.g. `/apps/1/events`. */
  path: string;
  query: QueryEntries;
  /** The key of the app the path names. */
  key: string;
  secret: string;
  /** The server's clock, in whole seconds since the epoch. */
  nowSeconds: number;
}

/**
 * Checks a request's authentication parameters in Pusher's order: `auth_key` (present, the
 * app's), `auth_version` (1.0), `auth_timestamp` (less than {@link TIMESTAMP_GRACE_SECONDS}
 * away), then the signature, compared in constant time. Keys are matched case-insensitively,
 * as they are signed. `body_md5` is only signed here; {@link verifyBodyMd5} checks the body.
 */
export function verifySignature(check: SignatureCheck): SigningVerdict {
  const auth = new Map<string, string>();
  for (const [key, value] of check.query) {
    const name = key.toLowerCase();
    if (name.startsWith("auth_")) auth.set(name, value);
  }
  const key = auth.get("auth_key");
  if (key === undefined) return { ok: false, message: "Missing parameter: auth_key" };
  if (key !== check.key) return { ok: false, message: "Unknown auth_key" };
  const version = auth.get("auth_version");
  if (version === undefined) return { ok: false, message: "Version required" };
  if (version !== AUTH_VERSION) return { ok: false, message: "Version not supported" };
  const timestamp = auth.get("auth_timestamp");
  if (timestamp === undefined) return { ok: false, message: "Timestamp required" };
  // Twelve digits reach the year 33658, and keep the date printable.
  if (!/^\d{1,12}$/.test(timestamp))
    return { ok: false, message: "Invalid auth_timestamp: expected whole seconds since 1970-01-01T00:00:00Z" };
  const seconds = Number(timestamp);
  if (Math.abs(seconds - check.nowSeconds) >= TIMESTAMP_GRACE_SECONDS) {
    return {
      ok: false,
      message: `Timestamp expired: Given timestamp (${iso(seconds)}) not within ${TIMESTAMP_GRACE_SECONDS}s of server time (${iso(check.nowSeconds)})`,
    };
  }
  const text = stringToSign(check.method, check.path, check.query);
  const given = auth.get("auth_signature");
  if (given === undefined || !sameDigest(given, signString(check.secret, text))) {
    const sent = given === undefined ? "nothing" : JSON.stringify(given);
    return {
      ok: false,
      message: `Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(text)}, your_secret_key), but you sent ${sent}`,
    };
  }
  return { ok: true };
}

/**
 * Checks a signed request's `body_md5` (its last value, as signed) against the body it came
 * with. A non-empty body needs one; an empty body needs none, and one given is not checked
 * (some clients sign a hash even without a body, and it is covered by the signature anyway).
 */
export function verifyBodyMd5(query: QueryEntries, body: Uint8Array): SigningVerdict {
  if (body.length === 0) return { ok: true };
  let given: string | undefined;
  for (const [key, value] of query) if (key.toLowerCase() === "body_md5") given = value;
  if (given === undefined)
    return { ok: false, message: "Missing parameter: body_md5 (the hex MD5 of the body, required with a body)" };
  if (!sameDigest(given.toLowerCase(), bodyMd5(body)))
    return { ok: false, message: "Invalid body_md5: it is not the hex MD5 of the body that was sent" };
  return { ok: true };
}
