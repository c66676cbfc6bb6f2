import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import type { JWTPayload } from "jose";
import { TOKEN_TYPES } from "../auth/tokens.js";
import { envName, flagsErrorMessage } from "./settings.js";

/** `hubcast token --help`. */
export const TOKEN_HELP = `Usage: hubcast token --sub <user> [options]

Prints an HS256 token (JWT) signed with the secret a node is started with
(--token-hmac-secret): a connection token for 'connect', or with --channel a channel
token for namespaces with "subscribe": "token". The header "typ" says which
(hubcast-connection+jwt or hubcast-channel+jwt), so neither works as the other.
For development, tests and scripts; production backends mint their own (see
docs/security.md).

Options:
  --sub <user>        the user id (claim "sub"); required. A channel token for an
                      anonymous connection uses --sub ""
  --secret <secret>   the HS256 secret, at least 32 characters
                      (default: $${envName("tokenHmacSecret")})
  --ttl <seconds>     lifetime: "exp" is now plus this (default 3600)
  --channels <list>   comma-separated channels of "listed" namespaces (claim "channels");
                      an entry ending in * is a prefix: chat:team-*
  --info <json>       JSON others see as this user's info (claim "info")
  --channel <name>    mint a channel token for this channel instead
  --audience <aud>    claim "aud", for nodes started with --token-audience
  --issuer <iss>      claim "iss", for nodes started with --token-issuer
  -h, --help          show this help

Exit status: 0 printed, 2 bad options.

Examples:
  hubcast token --sub alice --secret "$SECRET"
  hubcast token --sub alice --ttl 600 --channels 'vip:lounge,team:a-*' --info '{"name":"Alice"}'
  hubcast token --sub alice --channel private:alice-and-bob`;

/** A command-line value `hubcast token` cannot use; the message says how to fix it. */
export class TokenUsageError extends Error {
  override readonly name = "TokenUsageError";
}

/** What to put in a token. */
export interface MintOptions {
  /** HS256 secret, at least 32 characters. */
  secret: string;
  /** Claim `sub`; may be `""` only for a channel token. */
  sub: string;
  /** Lifetime in seconds. */
  ttlSeconds: number;
  /** Present: mint a channel token for this channel. */
  channel?: string;
  channels?: string[];
  info?: unknown;
  audience?: string;
  issuer?: string;
  /** Seconds since the Unix epoch. @default now */
  nowSeconds?: number;
}

/** Signs a connection token (or, with `channel`, a channel token) with HS256, typed by its header `typ`. */
export async function mintToken(o: MintOptions): Promise<string> {
  const now = o.nowSeconds ?? Math.floor(Date.now() / 1000);
  const claims: JWTPayload = {};
  if (o.channel !== undefined) claims["channel"] = o.channel;
  if (o.channels !== undefined) claims["channels"] = o.channels;
  if (o.info !== undefined) claims["info"] = o.info;
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: o.channel === undefined ? TOKEN_TYPES.connection : TOKEN_TYPES.channel })
    .setSubject(o.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + o.ttlSeconds);
  if (o.audience !== undefined) jwt = jwt.setAudience(o.audience);
  if (o.issuer !== undefined) jwt = jwt.setIssuer(o.issuer);
  return jwt.sign(new TextEncoder().encode(o.secret));
}

const FLAGS = {
  sub: { type: "string" },
  secret: { type: "string" },
  ttl: { type: "string" },
  channels: { type: "string" },
  info: { type: "string" },
  channel: { type: "string" },
  audience: { type: "string" },
  issuer: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const parseFlags = (args: string[]) =>
  parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }).values;

/** Turns `hubcast token` flags (and the environment, for the secret) into {@link MintOptions}. Throws TokenUsageError. */
export function parseTokenArgs(args: string[], env: NodeJS.ProcessEnv): MintOptions | "help" {
  let values: ReturnType<typeof parseFlags>;
  try {
    values = parseFlags(args);
  } catch (err) {
    throw new TokenUsageError(flagsErrorMessage(err, FLAGS));
  }
  if (values.help === true) return "help";
  const secret = values.secret ?? env[envName("tokenHmacSecret")] ?? "";
  if (secret === "") throw new TokenUsageError(`give the HS256 secret with --secret or ${envName("tokenHmacSecret")}`);
  if (secret.length < 32)
    throw new TokenUsageError(
      `the secret must be at least 32 characters (the node refuses shorter ones), got ${secret.length}`,
    );
  const { sub, channel } = values;
  if (sub === undefined) throw new TokenUsageError("--sub <user> is required (the user id)");
  if (sub === "" && channel === undefined)
    throw new TokenUsageError(
      '--sub must not be empty for a connection token (only a channel token may have --sub "")',
    );
  const ttl = values.ttl ?? "3600";
  const ttlSeconds = Number(ttl);
  if (!/^\d+$/.test(ttl) || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1)
    throw new TokenUsageError(`--ttl must be a whole number of seconds >= 1, got "${ttl}"`);
  const mint: MintOptions = { secret, sub, ttlSeconds };
  if (channel !== undefined) {
    if (channel === "") throw new TokenUsageError("--channel must name a channel");
    if (values.channels !== undefined || values.info !== undefined)
      throw new TokenUsageError("--channels and --info belong in connection tokens, not with --channel");
    mint.channel = channel;
  }
  if (values.channels !== undefined) mint.channels = parseChannels(values.channels);
  if (values.info !== undefined) mint.info = parseInfo(values.info);
  if (values.audience !== undefined) mint.audience = values.audience;
  if (values.issuer !== undefined) mint.issuer = values.issuer;
  return mint;
}

function parseChannels(list: string): string[] {
  const channels = list
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  const bad = channels.find((c) => /\s/.test(c) || c.slice(0, -1).includes("*"));
  if (bad !== undefined)
    throw new TokenUsageError(`--channels: "${bad}" is not a channel name or a prefix ending in *`);
  return channels;
}

function parseInfo(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new TokenUsageError(`--info must be JSON, like '{"name":"Alice"}': ${(err as Error).message}`);
  }
}

/** Runs `hubcast token`: prints the token and returns the exit status (0, or 2 for bad options). */
export async function tokenCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed: MintOptions | "help";
  try {
    parsed = parseTokenArgs(args, env);
  } catch (err) {
    if (!(err instanceof TokenUsageError)) throw err;
    process.stderr.write(`hubcast: ${err.message}\nRun 'hubcast token --help' for usage.\n`);
    return 2;
  }
  if (parsed === "help") {
    process.stdout.write(`${TOKEN_HELP}\n`);
    return 0;
  }
  process.stdout.write(`${await mintToken(parsed)}\n`);
  return 0;
}
