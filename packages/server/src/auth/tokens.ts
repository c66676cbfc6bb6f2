import { ErrorCode } from "@hubcast/protocol";
import type { JsonValue } from "@hubcast/protocol";
import { decodeProtectedHeader, errors, jwtVerify } from "jose";
import type { JWTPayload } from "jose";
import type { ResolvedNodeOptions } from "../options.js";
import type { TokenKeyOptions } from "./keys.js";
import { TokenKeys, TokenKeysUnavailableError } from "./keys.js";

/** Which kind of token failed, for messages: `connection token ...`, `channel token ...`. */
export type TokenKind = "connection" | "channel";

/**
 * The JWT header `typ` of each kind of token (explicit typing, RFC 8725 §3.11), so that neither
 * can stand in for the other. Compared as jose does: case-insensitive, `application/` optional.
 */
export const TOKEN_TYPES = Object.freeze({
  connection: "hubcast-connection+jwt",
  channel: "hubcast-channel+jwt",
} as const satisfies Record<TokenKind, string>);

/**
 * A token was refused: `code` is `tokenExpired` (113) when it expired, else `unauthorized`
 * (101). The message says what was wrong and never contains the token.
 */
export class TokenError extends Error {
  override readonly name = "TokenError";
  constructor(
    readonly code: typeof ErrorCode.unauthorized | typeof ErrorCode.tokenExpired,
    message: string,
  ) {
    super(message);
  }
}

/** What a verified connection token says. */
export interface ConnectionClaims {
  /** `sub`: the user id, never empty. */
  user: string;
  /** `info`: application data shown in presence, join/leave and publications; absent when none. */
  info?: JsonValue;
  /** `channels`: channels (exact names, or prefixes ending in `*`) of `subscribe: "listed"` namespaces; [] when none. */
  channels: readonly string[];
  /** `exp` in ms since the Unix epoch. */
  expiresAt: number;
}

/** What a verified channel token says. */
export interface ChannelClaims {
  /** `sub`: the user id it was minted for; `""` for an anonymous connection. */
  user: string;
  /** `channel`: the one channel it grants. */
  channel: string;
  /** `exp` in ms since the Unix epoch. */
  expiresAt: number;
}

/**
 * Options of a {@link TokenVerifier}: the `aud` and `iss` that tokens must carry ("" = not
 * checked), and whether tokens without a Hubcast `typ` are still accepted.
 */
export type TokenCheckOptions = Pick<ResolvedNodeOptions, "tokenAudience" | "tokenIssuer" | "tokenAllowUntyped">;

const unauthorized = (message: string): TokenError => new TokenError(ErrorCode.unauthorized, message);

/**
 * Verifies connection and channel tokens (JWTs) against the configured keys, with optional
 * `aud`/`iss` checks. Rejects with {@link TokenError} for a bad token, and with
 * TokenKeysUnavailableError when the JWKS cannot be fetched.
 */
export class TokenVerifier {
  constructor(
    private readonly keys: TokenKeys,
    private readonly checks: TokenCheckOptions,
  ) {}

  /**
   * A verifier for the keys the node options name; `undefined` when no token key is
   * configured. Throws an OptionError for an unusable `tokenPublicKeyFile`.
   */
  static fromOptions(options: TokenKeyOptions & TokenCheckOptions): TokenVerifier | undefined {
    const keys = TokenKeys.load(options);
    return keys === undefined ? undefined : new TokenVerifier(keys, options);
  }

  /** The algorithms this verifier accepts, for messages and logs. */
  get algorithms(): readonly string[] {
    return this.keys.algorithms;
  }

  /**
   * Verifies a connection token: `typ` {@link TOKEN_TYPES}.connection (or none, while
   * `tokenAllowUntyped`), `sub` (non-empty string) and `exp` required, `channels` and `info`
   * optional. A token with a `channel` claim is a channel token and never a connection token.
   */
  async verifyConnection(token: string): Promise<ConnectionClaims> {
    const payload = await this.verify(token, "connection");
    if (payload["channel"] !== undefined)
      throw unauthorized('a channel token (it has a "channel" claim) is not a connection token');
    const user = payload.sub;
    if (typeof user !== "string" || user === "")
      throw unauthorized('connection token has no "sub" claim (the user id)');
    const channels = payload["channels"] ?? [];
    if (!Array.isArray(channels) || !channels.every((c): c is string => typeof c === "string")) {
      throw unauthorized('connection token claim "channels" must be an array of strings');
    }
    const claims: ConnectionClaims = { user, channels, expiresAt: expiresAt(payload) };
    if (payload["info"] !== undefined) claims.info = payload["info"] as JsonValue;
    return claims;
  }

  /**
   * Verifies a channel token: `typ` {@link TOKEN_TYPES}.channel (or none, while
   * `tokenAllowUntyped`), `sub` (a string, `""` for anonymous), `channel` and `exp` required.
   */
  async verifyChannel(token: string): Promise<ChannelClaims> {
    const payload = await this.verify(token, "channel");
    if (typeof payload.sub !== "string")
      throw unauthorized('channel token has no "sub" claim (the user id, "" for anonymous)');
    const channel = payload["channel"];
    if (typeof channel !== "string" || channel === "") throw unauthorized('channel token has no "channel" claim');
    return { user: payload.sub, channel, expiresAt: expiresAt(payload) };
  }

  private async verify(token: string, kind: TokenKind): Promise<JWTPayload> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw unauthorized(`${kind} token is malformed: not a JWT (header.payload.signature)`);
    }
    const typed = this.checkType(header.typ, kind);
    const alg = header.alg;
    const found = this.keys.keyFor(alg);
    if (found === undefined) {
      const accepted = this.keys.algorithms.join(", ");
      throw unauthorized(
        `${kind} token algorithm ${JSON.stringify(alg ?? null)} is not accepted; this node accepts ${accepted}`,
      );
    }
    const { tokenAudience, tokenIssuer } = this.checks;
    try {
      const { payload } = await jwtVerify(token, found.key, {
        algorithms: [found.algorithm],
        audience: tokenAudience === "" ? undefined : tokenAudience,
        issuer: tokenIssuer === "" ? undefined : tokenIssuer,
        requiredClaims: ["exp"],
        // jose checks a typed token's `typ` again, after the signature; untyped ones were classified above.
        typ: typed ? TOKEN_TYPES[kind] : undefined,
      });
      return payload;
    } catch (err) {
      throw describe(err, kind, this.checks);
    }
  }

  /**
   * True for a token typed as `kind`; false for an untyped one (no `typ`, or the generic
   * `JWT`) that the migration still accepts. Throws for the other kind's type, any other
   * type, and untyped tokens once `tokenAllowUntyped` is off.
   */
  private checkType(typ: unknown, kind: TokenKind): boolean {
    const normalized = typeof typ === "string" ? typ.toLowerCase().replace(/^application\//, "") : undefined;
    if (normalized === TOKEN_TYPES[kind]) return true;
    if (normalized === undefined || normalized === "jwt") {
      if (this.checks.tokenAllowUntyped) return false;
      throw unauthorized(
        `${kind} token has no type: its header needs "typ": "${TOKEN_TYPES[kind]}" (this node refuses untyped tokens: tokenAllowUntyped is false)`,
      );
    }
    throw unauthorized(
      `${kind} token has the wrong type: header "typ" is ${JSON.stringify(typ)}, expected "${TOKEN_TYPES[kind]}"`,
    );
  }
}

function expiresAt(payload: JWTPayload): number {
  // jwtVerify checked that `exp` is present, a number, and in the future.
  return (payload.exp ?? 0) * 1000;
}

/** Turns a jose failure into a TokenError that says what was wrong; key outages pass through. */
function describe(err: unknown, kind: TokenKind, checks: TokenCheckOptions): Error {
  if (err instanceof TokenKeysUnavailableError) return err;
  if (err instanceof errors.JWTExpired) return new TokenError(ErrorCode.tokenExpired, `${kind} token has expired`);
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthorized(`${kind} token signature is invalid`);
  if (err instanceof errors.JWKSNoMatchingKey)
    return unauthorized(`no key of the JWKS matches the ${kind} token (check its "kid" and "alg")`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud")
      return unauthorized(`${kind} token audience ("aud") is not ${JSON.stringify(checks.tokenAudience)}`);
    if (err.claim === "iss")
      return unauthorized(`${kind} token issuer ("iss") is not ${JSON.stringify(checks.tokenIssuer)}`);
    if (err.claim === "typ") return unauthorized(`${kind} token has the wrong type (header "typ")`);
    if (err.claim === "nbf") return unauthorized(`${kind} token is not valid yet ("nbf" is in the future)`);
    if (err.reason === "missing") return unauthorized(`${kind} token has no "${err.claim}" claim`);
    return unauthorized(`${kind} token claim "${err.claim}" is invalid`);
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid)
    return unauthorized(`${kind} token is malformed: ${err.message}`);
  if (err instanceof errors.JOSEError) return unauthorized(`${kind} token is invalid (${err.code})`);
  // Anything else (a key that does not fit the algorithm, for example) is still the token's fault.
  return unauthorized(`${kind} token is invalid`);
}
