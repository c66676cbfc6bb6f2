import { ErrorCode } from "@hubcast/protocol";
import type { JsonValue } from "@hubcast/protocol";
import type { ChannelOptions } from "../channels.js";
import type { AuthenticateHook } from "../context.js";
import { ReplyError } from "../errors.js";
import type { ResolvedNodeOptions } from "../options.js";
import { OptionError } from "../validation.js";
import { OriginPolicy } from "./origins.js";
import { TokenError, TokenVerifier } from "./tokens.js";

/** Who a connection is, as `connect` (and later `refresh`) establish it. */
export interface Identity {
  /** User id; `""` is anonymous. */
  user: string;
  /** Application data about the user; absent when there is none. */
  info?: JsonValue;
  /** Channels the credentials list for `subscribe: "listed"` namespaces (exact, or a prefix ending in `*`). */
  channels: readonly string[];
  /** When the credentials expire, in ms since the Unix epoch; `undefined` means never. */
  expiresAt?: number;
}

/** How a node authenticates: a hook (wins when given), token keys, and whether anonymous is allowed. */
export interface AuthSetup {
  readonly authenticate: AuthenticateHook | undefined;
  readonly tokens: TokenVerifier | undefined;
  readonly allowAnonymous: boolean;
  /** Which browser origins may open WebSocket connections. */
  readonly origins: OriginPolicy;
}

const KEY_OPTIONS = "tokenHmacSecret, tokenPublicKeyFile or tokenJwksUrl";

/**
 * Builds a node's {@link AuthSetup} from its options (reading the PEM key file now) and its
 * hook. Throws an OptionError for a bad `allowedOrigins` entry or key file, and for setups that could never work: `allowAnonymous: false` with
 * neither keys nor hook, or a `subscribe: "token"` namespace without keys to check channel tokens.
 */
export function createAuthSetup(
  options: ResolvedNodeOptions,
  namespaces: Readonly<Record<string, ChannelOptions>>,
  authenticate: AuthenticateHook | undefined,
): AuthSetup {
  const origins = new OriginPolicy(options.allowedOrigins);
  const tokens = TokenVerifier.fromOptions(options);
  if (!options.allowAnonymous && tokens === undefined && authenticate === undefined) {
    throw new OptionError(
      "allowAnonymous",
      `false refuses every connection unless tokens can be checked: set ${KEY_OPTIONS} (or pass an authenticate hook)`,
    );
  }
  if (tokens === undefined) {
    const scopes: [string, ChannelOptions][] = [
      ["channel", options.channel],
      ...Object.entries(namespaces).map(([name, o]): [string, ChannelOptions] => [`namespaces.${name}`, o]),
    ];
    for (const [where, channelOptions] of scopes) {
      if (channelOptions.subscribe === "token") {
        throw new OptionError(`${where}.subscribe`, `"token" needs a key to check channel tokens: set ${KEY_OPTIONS}`);
      }
    }
  }
  return Object.freeze({ authenticate, tokens, allowAnonymous: options.allowAnonymous, origins });
}

/** What a client presented in `connect`. */
export interface Credentials {
  token: string | undefined;
  name: string | undefined;
  remoteAddress: string | undefined;
}

const ANONYMOUS: Identity = Object.freeze({ user: "", channels: Object.freeze([]) });

const unauthorized = (message: string): ReplyError => new ReplyError(ErrorCode.unauthorized, message);

/** Rethrows a {@link TokenError} as the ReplyError the client gets (101 or 113); other errors pass unchanged. */
export function asReplyError(err: unknown): unknown {
  return err instanceof TokenError ? new ReplyError(err.code, err.message) : err;
}

/**
 * Decides who a connecting client is. The hook, when given, decides alone. Otherwise, with
 * token keys, `token` must be a valid connection token, or absent when `allowAnonymous`.
 * Without either, every connection is anonymous. Rejects with a ReplyError (101, 113).
 */
export async function identify(setup: AuthSetup, credentials: Credentials): Promise<Identity> {
  if (setup.authenticate !== undefined) return fromHook(setup.authenticate, credentials);
  if (setup.tokens === undefined) return ANONYMOUS;
  if (credentials.token === undefined || credentials.token === "") {
    if (setup.allowAnonymous) return ANONYMOUS;
    throw unauthorized("a connection token is required: this node does not accept anonymous connections");
  }
  return setup.tokens.verifyConnection(credentials.token).catch((err: unknown) => {
    throw asReplyError(err);
  });
}

/**
 * Checks a `refresh` token: verified like `connect`'s, and for the same user (else 101).
 * Resolves with the connection's new identity.
 */
export async function reidentify(setup: AuthSetup, user: string, credentials: Credentials): Promise<Identity> {
  if (setup.authenticate === undefined && setup.tokens === undefined) {
    throw new ReplyError(
      ErrorCode.notAvailable,
      "this node has no token keys configured, so there is nothing to refresh",
    );
  }
  const identity = await identify({ ...setup, allowAnonymous: false }, credentials);
  if (identity.user !== user) throw unauthorized("the refresh token is for another user than the connection's");
  return identity;
}

async function fromHook(hook: AuthenticateHook, credentials: Credentials): Promise<Identity> {
  const reply = await hook(credentials);
  if (reply === null) throw unauthorized("credentials refused");
  const identity: Identity = { user: reply.user, channels: reply.channels ?? [] };
  if (reply.info !== undefined) identity.info = reply.info;
  if (reply.expiresAt !== undefined) identity.expiresAt = reply.expiresAt;
  return identity;
}

/** Does a `channels` claim grant `channel`? Entries match exactly, or as a prefix when they end in `*`. */
export function listsChannel(channels: readonly string[], channel: string): boolean {
  return channels.some((entry) => (entry.endsWith("*") ? channel.startsWith(entry.slice(0, -1)) : entry === channel));
}
