import { SignJWT, UnsecuredJWT } from "jose";
import type { JWTPayload, KeyObject, CryptoKey } from "jose";
import { TOKEN_TYPES } from "../../packages/server/src/auth/tokens.js";

/** An HS256 secret long enough for the node's `tokenHmacSecret` check. */
export const TEST_SECRET = "test-secret-that-is-at-least-32-characters-long";

/** Seconds since the Unix epoch, as JWT `exp`/`iat` count. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** How to sign a test token. */
export interface SignOptions {
  /** `exp` in seconds from now (negative: already expired); `null` leaves `exp` out. @default 3600 */
  ttlSeconds?: number | null;
  /** @default "HS256" */
  alg?: string;
  /** HS256 secret or a private key. @default TEST_SECRET */
  key?: string | Uint8Array | CryptoKey | KeyObject;
  kid?: string;
  /**
   * Header `typ`: `null` leaves it out (a token minted before typed tokens). @default the
   * channel token type when `claims` has a `channel`, else the connection token type
   */
  typ?: string | null;
}

/** Signs `claims` as a JWT; `sub` and the other claims go in as given. */
export function sign(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
  const ttl = options.ttlSeconds === undefined ? 3600 : options.ttlSeconds;
  const typ =
    options.typ === undefined
      ? claims["channel"] === undefined
        ? TOKEN_TYPES.connection
        : TOKEN_TYPES.channel
      : options.typ;
  const header = {
    alg: options.alg ?? "HS256",
    ...(options.kid === undefined ? {} : { kid: options.kid }),
    ...(typ === null ? {} : { typ }),
  };
  let jwt = new SignJWT(claims).setProtectedHeader(header).setIssuedAt();
  if (ttl !== null) jwt = jwt.setExpirationTime(nowSeconds() + ttl);
  const key = options.key ?? TEST_SECRET;
  return jwt.sign(typeof key === "string" ? new TextEncoder().encode(key) : key);
}

/** A token with `alg: "none"` and no signature: must never verify. */
export function unsigned(claims: JWTPayload): string {
  return new UnsecuredJWT(claims).setExpirationTime(nowSeconds() + 3600).encode();
}
