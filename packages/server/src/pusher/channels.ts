/**
 * Pusher channel names: their kinds (public, `private-`, `private-encrypted-`, `presence-`,
 * `cache-` and the cache variants, `#server-to-user-`), what Pusher allows in them, and the
 * Hubcast channel that holds each one (`<app namespace>:<name>`).
 */
import type { ChannelOptionsByName, ResolvedChannelOptions } from "../channels.js";
import { resolveChannelOptions } from "../channels.js";
import type { ChannelOptions } from "../channels.js";

/** Longest channel name Pusher accepts. */
export const MAX_PUSHER_CHANNEL_LENGTH = 164;
/** The characters Pusher allows in channel names (and user ids). */
export const CHANNEL_NAME_CHARACTERS = /^[A-Za-z0-9_\-=@,.;]+$/;
/** The channel a signed-in user's server events arrive on (`pusher:signin`). */
export const USER_CHANNEL_PREFIX = "#server-to-user-";
/** How long a cache channel keeps its last event, as Pusher does. */
export const CACHE_TTL_MS = 30 * 60_000;

/** What a channel name says about it. */
export interface ChannelKind {
  /** Needs an `auth` signature to subscribe (private, encrypted, presence). */
  readonly authorized: boolean;
  /** `presence-`: subscribers are members, with `channel_data`. */
  readonly presence: boolean;
  /** `private-encrypted-`: payloads are end-to-end encrypted; the server relays them and refuses client events. */
  readonly encrypted: boolean;
  /** `cache-` (and `private-cache-`, `presence-cache-`, `private-encrypted-cache-`): the last event is kept 30 minutes. */
  readonly cache: boolean;
  /** `#server-to-user-<id>`: only a connection signed in as that user may subscribe. */
  readonly user: string | undefined;
}

/** Why a name is not a Pusher channel, or `undefined` when it is one. */
export function invalidChannelName(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_PUSHER_CHANNEL_LENGTH)
    return `channel names are 1 to ${MAX_PUSHER_CHANNEL_LENGTH} characters`;
  if (name.startsWith(USER_CHANNEL_PREFIX)) {
    const user = name.slice(USER_CHANNEL_PREFIX.length);
    return user.length > 0 && CHANNEL_NAME_CHARACTERS.test(user) ? undefined : "invalid user channel name";
  }
  return CHANNEL_NAME_CHARACTERS.test(name) ? undefined : "channel names may contain only A-Z a-z 0-9 _ - = @ , . ;";
}

/** The kind of a valid channel name. */
export function channelKind(name: string): ChannelKind {
  if (name.startsWith(USER_CHANNEL_PREFIX)) {
    return { authorized: false, presence: false, encrypted: false, cache: false, user: name.slice(16) };
  }
  const encrypted = name.startsWith("private-encrypted-");
  const presence = name.startsWith("presence-");
  const authorized = encrypted || presence || name.startsWith("private-");
  const cache =
    name.startsWith("cache-") ||
    name.startsWith("private-cache-") ||
    name.startsWith("presence-cache-") ||
    name.startsWith("private-encrypted-cache-");
  return { authorized, presence, encrypted, cache, user: undefined };
}

/** The Hubcast channel that holds Pusher channel `name` of the app whose namespace is `namespace`. */
export const hubcastChannel = (namespace: string, name: string): string => `${namespace}:${name}`;

/** The Pusher name of a Hubcast channel of an app namespace (what follows the first `:`). */
export const pusherName = (channel: string): string => channel.slice(channel.indexOf(":") + 1);

/**
 * The options of an app namespace's channels, by name. `base` is the namespace's configured
 * options when the app shares a configured namespace, else `undefined` (the app's own).
 * Presence channels keep presence (members are pushed by the Pusher protocol itself, so no
 * `joinLeave`); cache channels keep their last event; channels that need Pusher's `auth`
 * admit native clients only with a channel token (`subscribe: "token"`), or by the stricter
 * `listed` rule if configured, so sharing a namespace never opens a private channel. The app's
 * own namespace admits native clients only by channel token.
 */
export function pusherChannelOptions(base: ChannelOptions | undefined, where: string): ChannelOptionsByName {
  const shared = base !== undefined;
  const start: ChannelOptions = shared ? { ...base } : { subscribe: "token" };
  const guarded = (options: ChannelOptions): ChannelOptions =>
    options.subscribe === "listed" ? options : { ...options, subscribe: "token" };
  const make = (extra: ChannelOptions): ResolvedChannelOptions => resolveChannelOptions({ ...start, ...extra }, where);
  const cache: ChannelOptions = {
    historySize: Math.max(1, start.historySize ?? 0),
    historyTtlMs: Math.max(CACHE_TTL_MS, start.historyTtlMs ?? 0),
    historyMetaTtlMs: Math.max(CACHE_TTL_MS, start.historyMetaTtlMs ?? 86_400_000),
  };
  const variants = {
    public: make({}),
    publicCache: make(cache),
    authorized: resolveChannelOptions(guarded(start), where),
    authorizedCache: resolveChannelOptions({ ...guarded(start), ...cache }, where),
    presence: resolveChannelOptions({ ...guarded(start), presence: true, joinLeave: false }, where),
    presenceCache: resolveChannelOptions({ ...guarded(start), ...cache, presence: true, joinLeave: false }, where),
  };
  return (rest) => {
    const kind = channelKind(rest);
    if (kind.presence) return kind.cache ? variants.presenceCache : variants.presence;
    if (kind.authorized || kind.user !== undefined) return kind.cache ? variants.authorizedCache : variants.authorized;
    return kind.cache ? variants.publicCache : variants.public;
  };
}
