import { createHash, createHmac, hkdfSync, randomUUID, timingSafeEqual } from "node:crypto";

/** The admin session cookie's name. */
export const ADMIN_COOKIE = "hubcast_admin";

/** How long an admin login lasts, in ms (12 hours; the cookie's Max-Age). */
export const SESSION_TTL_MS = 43_200_000;

/** How far ahead of this node's clock a token's `iat` may be (another node's clock), in ms. */
const CLOCK_SKEW_MS = 60_000;

/** Longest token looked at; longer ones are refused before any work (a real one is about 150 characters). */
const MAX_TOKEN_LENGTH = 512;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** What a session token says: issued and expiring at (ms since the epoch), and a random session id. */
export interface SessionClaims {
  iat: number;
  exp: number;
  sid: string;
}

/**
 * Mints and checks admin session tokens: `base64url(JSON {iat, exp, sid}) "." base64url(HMAC-SHA256)`,
 * keyed by HKDF-SHA256(password, salt "hubcast-admin", info "session"). Every node that has the
 * same password accepts every other's tokens; a new password invalidates them all. Tokens are
 * not stored anywhere: logging out clears the browser's cookie, and a copied token stays valid
 * until it expires.
 */
export class AdminSessions {
  private readonly key: Buffer;
  private readonly passwordDigest: Buffer;

  constructor(
    password: string,
    private readonly now: () => number = Date.now,
    /** How long a minted token lasts, in ms. */
    readonly ttlMs: number = SESSION_TTL_MS,
  ) {
    if (password === "") throw new TypeError("AdminSessions needs a password");
    this.key = Buffer.from(hkdfSync("sha256", password, "hubcast-admin", "session", 32));
    this.passwordDigest = sha256(password);
  }

  /** Whether `candidate` is the password, compared in constant time (digests of equal length: neither content nor length leaks). */
  checkPassword(candidate: string): boolean {
    return timingSafeEqual(sha256(candidate), this.passwordDigest);
  }

  /** A new token valid for {@link ttlMs} from now, with its claims. */
  mint(): { token: string; claims: SessionClaims } {
    const iat = this.now();
    const claims: SessionClaims = { iat, exp: iat + this.ttlMs, sid: randomUUID() };
    const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return { token: `${payload}.${this.sign(payload).toString("base64url")}`, claims };
  }

  /** The claims of `token` when it is well formed, signed with this password's key and not expired; else `undefined`. Never throws. */
  verify(token: string): SessionClaims | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return undefined;
    const dot = token.indexOf(".");
    const payload = token.slice(0, dot);
    const signature = token.slice(dot + 1);
    if (dot <= 0 || !BASE64URL.test(payload) || !BASE64URL.test(signature)) return undefined;
    const given = Buffer.from(signature, "base64url");
    const expected = this.sign(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const claims = parseClaims(Buffer.from(payload, "base64url").toString("utf8"));
    if (claims === undefined) return undefined;
    const now = this.now();
    if (claims.exp <= now || claims.iat > now + CLOCK_SKEW_MS || claims.exp - claims.iat > this.ttlMs) return undefined;
    return claims;
  }

  private sign(payload: string): Buffer {
    return createHmac("sha256", this.key).update(payload).digest();
  }
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

function parseClaims(json: string): SessionClaims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined; // signed by this key, so only a bug could get here: refuse, like any bad token
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { iat, exp, sid } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp) || typeof sid !== "string") return undefined;
  return { iat: iat as number, exp: exp as number, sid };
}

/** Most cookies of one `Cookie` header looked at. */
const MAX_COOKIES = 64;

/**
 * The values of every cookie called `name` in a `Cookie` header, in order (a browser may send
 * two of the same name from different paths). Never throws; skips malformed pairs.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined) return [];
  const values: string[] = [];
  for (const pair of header.split(";", MAX_COOKIES)) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    values.push(value);
  }
  return values;
}

/** The `Set-Cookie` value that holds `token` for `maxAgeMs` (HttpOnly, SameSite=Strict, Path=/admin; Secure over HTTPS). */
export function sessionCookie(token: string, maxAgeMs: number, secure: boolean): string {
  const attributes = `HttpOnly; SameSite=Strict; Path=/admin; Max-Age=${Math.floor(maxAgeMs / 1000)}`;
  return `${ADMIN_COOKIE}=${token}; ${attributes}${secure ? "; Secure" : ""}`;
}

/** The `Set-Cookie` value that removes the session cookie. */
export function clearedCookie(secure: boolean): string {
  return `${ADMIN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0${secure ? "; Secure" : ""}`;
}
