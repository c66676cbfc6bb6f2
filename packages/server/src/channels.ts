import type { HistoryPolicy } from "./broker/broker.js";
import { checkBoolean, checkInteger, checkKnownKeys, checkString, OptionError } from "./validation.js";

const SUBSCRIBE_PATTERN = new RegExp(`^(${["anyone", "authenticated", "listed", "token"].join("|")})$`);
const PUBLISH_PATTERN = new RegExp(`^(${["inherit", "anyone", "authenticated", "listed", "subscribers"].join("|")})$`);

/** Options of one namespace: every channel `ns:rest` follows namespace `ns`'s options. */
export interface ChannelOptions {
  /** Publications kept per channel; 0 disables history and recovery. @default 0 */
  historySize?: number;
  /** How long publications are kept after a channel's last publication, in ms. @default 300_000 */
  historyTtlMs?: number;
  /** How long a channel's position (epoch, offset) is kept after its last publication, in ms; >= historyTtlMs. @default 86_400_000 */
  historyMetaTtlMs?: number;
  /** Keep a presence list (who is subscribed). @default false */
  presence?: boolean;
  /** Push `join`/`leave` to subscribers when others subscribe or leave. @default false */
  joinLeave?: boolean;
  /** Clients may publish (otherwise only the server side may); who exactly, `publish` says. @default false */
  allowPublish?: boolean;
  /**
   * Which clients may publish when `allowPublish` is on: `inherit` (whoever `subscribe`
   * admits; for `subscribe: "token"`, connections holding a live subscription, since the
   * channel token is checked at subscribe), `anyone`, `authenticated`, `listed` (as for
   * `subscribe`), or `subscribers` (connections holding a live subscription to the channel).
   * @default "inherit"
   */
  publish?: PublishAccess;
  /**
   * Who may subscribe: `anyone` (anonymous connections too), `authenticated` (connections
   * with a user), `listed` (users whose connection token lists the channel in its `channels`
   * claim), or `token` (holders of a channel token for this channel, signed by the app's
   * backend). @default "anyone"
   */
  subscribe?: SubscribeAccess;
  /** Subscribers may read presence. @default true */
  allowPresence?: boolean;
  /** Subscribers may read history. @default true */
  allowHistory?: boolean;
  /**
   * Subscribers may ask for publications as fossil deltas against the previous one (`subscribe`
   * with `delta: "fossil"`). Each node computes a publication's delta once, for all its
   * subscribers, and keeps the channel's last payload to do so. @default false
   */
  allowDelta?: boolean;
}

/** Who may subscribe to a namespace's channels. */
export const SUBSCRIBE_ACCESS = ["anyone", "authenticated", "listed", "token"] as const;
export type SubscribeAccess = (typeof SUBSCRIBE_ACCESS)[number];

/** Which clients may publish to a namespace's channels (when `allowPublish` is on). */
export const PUBLISH_ACCESS = ["inherit", "anyone", "authenticated", "listed", "subscribers"] as const;
export type PublishAccess = (typeof PUBLISH_ACCESS)[number];

export type ResolvedChannelOptions = Readonly<Required<ChannelOptions>> & { readonly history: HistoryPolicy };

const CHANNEL_OPTION_KEYS = [
  "historySize",
  "historyTtlMs",
  "historyMetaTtlMs",
  "presence",
  "joinLeave",
  "allowPublish",
  "publish",
  "subscribe",
  "allowPresence",
  "allowHistory",
  "allowDelta",
] as const satisfies readonly (keyof ChannelOptions)[];

/** Applies defaults, validates, freezes. `where` prefixes error messages (`namespaces.chat`). */
export function resolveChannelOptions(opts: ChannelOptions = {}, where = "channel"): ResolvedChannelOptions {
  // A config file can hold anything here: null, a number, a list.
  if (typeof opts !== "object" || opts === null || Array.isArray(opts)) {
    throw new OptionError(
      where,
      `must be an object of channel options like {"historySize": 100}, got ${JSON.stringify(opts)}`,
    );
  }
  checkKnownKeys(where, opts, CHANNEL_OPTION_KEYS);
  const o = {
    historySize: checkInteger(`${where}.historySize`, opts.historySize ?? 0, 0, 1_000_000),
    historyTtlMs: checkInteger(`${where}.historyTtlMs`, opts.historyTtlMs ?? 300_000, 1),
    historyMetaTtlMs: checkInteger(`${where}.historyMetaTtlMs`, opts.historyMetaTtlMs ?? 86_400_000, 1),
    presence: checkBoolean(`${where}.presence`, opts.presence ?? false),
    joinLeave: checkBoolean(`${where}.joinLeave`, opts.joinLeave ?? false),
    allowPublish: checkBoolean(`${where}.allowPublish`, opts.allowPublish ?? false),
    publish: checkString(
      `${where}.publish`,
      opts.publish ?? "inherit",
      PUBLISH_PATTERN,
      `one of ${PUBLISH_ACCESS.join(", ")}`,
    ) as PublishAccess,
    subscribe: checkString(
      `${where}.subscribe`,
      opts.subscribe ?? "anyone",
      SUBSCRIBE_PATTERN,
      `one of ${SUBSCRIBE_ACCESS.join(", ")}`,
    ) as SubscribeAccess,
    allowPresence: checkBoolean(`${where}.allowPresence`, opts.allowPresence ?? true),
    allowHistory: checkBoolean(`${where}.allowHistory`, opts.allowHistory ?? true),
    allowDelta: checkBoolean(`${where}.allowDelta`, opts.allowDelta ?? false),
  };
  if (opts.publish !== undefined && !o.allowPublish) {
    // A publish rule that can never apply is a misunderstanding worth stopping at.
    throw new OptionError(
      `${where}.publish`,
      "has no effect while allowPublish is false: set allowPublish: true, or drop publish",
    );
  }
  if (o.historyMetaTtlMs < o.historyTtlMs) {
    throw new OptionError(
      `${where}.historyMetaTtlMs`,
      `must be at least historyTtlMs (${o.historyTtlMs}), got ${o.historyMetaTtlMs}`,
    );
  }
  const history = Object.freeze({ size: o.historySize, ttlMs: o.historyTtlMs, metaTtlMs: o.historyMetaTtlMs });
  return Object.freeze({ ...o, history });
}

/** Separates a namespace from the rest of a channel name: `chat:room1` → `chat`. */
export const NAMESPACE_SEPARATOR = ":";
const NAMESPACE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Printable ASCII without space, quote or backslash: safe in URLs, logs and Redis keys. */
const CHANNEL_CHARS = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** The result of looking a channel up: its namespace options, or why it is not valid. */
export type ChannelLookup =
  | { ok: true; namespace: string; options: ResolvedChannelOptions }
  | { ok: false; reason: string };

/**
 * The options of one channel of a namespace whose channels differ by name (a Pusher app's:
 * `presence-` channels keep presence, `cache-` channels keep their last event). Called for
 * every lookup, so it returns prepared objects rather than making new ones.
 */
export type ChannelOptionsByName = (rest: string) => ResolvedChannelOptions;

/** Maps channel names to namespace options; channels without a namespace use the default. */
export class ChannelRules {
  private readonly namespaces: ReadonlyMap<string, ResolvedChannelOptions>;

  /**
   * `byName`: namespaces whose options depend on the rest of the channel name; they take
   * precedence over `namespaces` (whose options they usually start from).
   */
  constructor(
    namespaces: Readonly<Record<string, ChannelOptions>>,
    private readonly defaults: ResolvedChannelOptions,
    private readonly maxChannelLength: number,
    private readonly byName: ReadonlyMap<string, ChannelOptionsByName> = new Map(),
  ) {
    const resolved = new Map<string, ResolvedChannelOptions>();
    for (const [name, options] of Object.entries(namespaces)) {
      if (!NAMESPACE_NAME.test(name)) {
        throw new OptionError(`namespaces.${name}`, "namespace names are 1-64 of A-Z a-z 0-9 _ . -");
      }
      resolved.set(name, resolveChannelOptions(options, `namespaces.${name}`));
    }
    this.namespaces = resolved;
  }

  lookup(channel: string): ChannelLookup {
    if (channel.length > this.maxChannelLength) {
      return { ok: false, reason: `channel name longer than ${this.maxChannelLength} characters` };
    }
    if (!CHANNEL_CHARS.test(channel)) {
      return { ok: false, reason: "channel names are printable ASCII without spaces, quotes or backslashes" };
    }
    const cut = channel.indexOf(NAMESPACE_SEPARATOR);
    if (cut < 0) return { ok: true, namespace: "", options: this.defaults };
    const namespace = channel.slice(0, cut);
    const resolve = this.byName.get(namespace);
    if (resolve !== undefined) return { ok: true, namespace, options: resolve(channel.slice(cut + 1)) };
    const options = this.namespaces.get(namespace);
    if (options === undefined) return { ok: false, reason: `namespace "${namespace}" is not configured` };
    return { ok: true, namespace, options };
  }
}
