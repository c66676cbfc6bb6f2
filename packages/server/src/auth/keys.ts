import { createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRemoteJWKSet, errors } from "jose";
import type { FlattenedJWSInput, JWSHeaderParameters, JWTVerifyGetKey } from "jose";
import type { ResolvedNodeOptions } from "../options.js";
import { OptionError } from "../validation.js";

/** The JWS algorithms Hubcast can verify; which are accepted depends on the configured keys. */
export const TOKEN_ALGORITHMS = ["HS256", "RS256", "ES256"] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

/** What verifies one algorithm: an HMAC secret, a public key, or a JWKS lookup. */
export type VerificationKey = Uint8Array | KeyObject | JWTVerifyGetKey;

/** The node options that say where token keys come from. */
export type TokenKeyOptions = Pick<ResolvedNodeOptions, "tokenHmacSecret" | "tokenPublicKeyFile" | "tokenJwksUrl">;

/** The JWKS could not be fetched or read; tokens cannot be checked right now (not the client's fault). */
export class TokenKeysUnavailableError extends Error {
  override readonly name = "TokenKeysUnavailableError";
}

/**
 * The configured verification keys, by algorithm. Only algorithms with a key are accepted, so
 * `none`, and an HS256 token "signed" with a public key, never verify (algorithm confusion).
 */
export class TokenKeys {
  private constructor(private readonly keys: ReadonlyMap<TokenAlgorithm, VerificationKey>) {}

  /**
   * Loads the keys the options name; `undefined` when none is configured. The PEM file is read
   * now: an unreadable file, a private key or an unsupported key type throws an OptionError
   * naming `tokenPublicKeyFile`. A PEM key serves its own algorithm before the JWKS does.
   */
  static load(options: TokenKeyOptions): TokenKeys | undefined {
    const keys = new Map<TokenAlgorithm, VerificationKey>();
    if (options.tokenJwksUrl !== "") {
      const jwks = remoteKeySet(options.tokenJwksUrl);
      keys.set("RS256", jwks);
      keys.set("ES256", jwks);
    }
    if (options.tokenPublicKeyFile !== "") {
      const { algorithm, key } = readPublicKey(options.tokenPublicKeyFile);
      keys.set(algorithm, key);
    }
    if (options.tokenHmacSecret !== "") keys.set("HS256", new TextEncoder().encode(options.tokenHmacSecret));
    return keys.size === 0 ? undefined : new TokenKeys(keys);
  }

  /** The accepted algorithms, in a stable order, for messages. */
  get algorithms(): TokenAlgorithm[] {
    return TOKEN_ALGORITHMS.filter((alg) => this.keys.has(alg));
  }

  /** The key for a token whose header names `alg`; `undefined` when that algorithm is not accepted. */
  keyFor(alg: string | undefined): { algorithm: TokenAlgorithm; key: VerificationKey } | undefined {
    const algorithm = TOKEN_ALGORITHMS.find((known) => known === alg);
    const key = algorithm === undefined ? undefined : this.keys.get(algorithm);
    return algorithm === undefined || key === undefined ? undefined : { algorithm, key };
  }
}

function readPublicKey(path: string): { algorithm: TokenAlgorithm; key: KeyObject } {
  const option = "tokenPublicKeyFile";
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    throw new OptionError(option, `cannot read ${path}: ${(err as Error).message}`);
  }
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new OptionError(
      option,
      `${path} holds a private key; give the public key instead (openssl pkey -in key.pem -pubout)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem" });
  } catch (err) {
    throw new OptionError(option, `${path} does not hold a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048)
      throw new OptionError(option, `${path} holds a ${bits}-bit RSA key; RS256 needs at least 2048 bits`);
    return { algorithm: "RS256", key };
  }
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") {
    return { algorithm: "ES256", key };
  }
  const type = key.asymmetricKeyType ?? "unknown";
  const curve = key.asymmetricKeyDetails?.namedCurve;
  throw new OptionError(
    option,
    `${path} holds a ${type}${curve === undefined ? "" : ` ${curve}`} key; use an RSA key (RS256) or a P-256 EC key (ES256)`,
  );
}

/**
 * A JWKS lookup cached by jose (keys kept 10 minutes, a refetch for an unknown `kid` at most
 * every 30 s). Fetch and parse failures become {@link TokenKeysUnavailableError}; an unknown
 * `kid` stays a JOSE error, since that is the token's fault.
 */
function remoteKeySet(url: string): JWTVerifyGetKey {
  const jwks = createRemoteJWKSet(new URL(url));
  return async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    try {
      return await jwks(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      throw new TokenKeysUnavailableError(`cannot load the token keys from ${url}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
}
