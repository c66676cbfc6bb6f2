/**
 * Pusher apps: the tenants a node serves over the Pusher protocol (`/app/{key}`) and the
 * Pusher HTTP API (`/apps/{id}/...`). Each app has its own credentials, limits and webhooks,
 * and its channels live in one Hubcast namespace: the app's own (`pusher.<id>`, invisible to
 * native clients unless configured) or a configured one that native clients share.
 */
import { checkBoolean, checkInteger, checkKnownKeys, checkSecret, checkString, OptionError } from "../validation.js";

/** The webhook events Pusher defines. */
export const WEBHOOK_EVENTS = [
  "channel_occupied",
  "channel_vacated",
  "member_added",
  "member_removed",
  "client_event",
] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/** Where one app's webhooks go. */
export interface WebhookTarget {
  /** The HTTP(S) URL that receives POSTs of `{time_ms, events: [...]}`. */
  url: string;
  /** Which events it receives. @default all of them */
  events?: WebhookEventName[];
}

/** One Pusher app, as the config file (`pusherApps`) or `--pusher-app id:key:secret` gives it. */
export interface PusherAppOptions {
  /** The app id, in `/apps/{id}/...` paths. */
  id: string;
  /** The public key clients connect with (`/app/{key}`), and the key of API requests. */
  key: string;
  /** Signs channel authorizations, user sign-ins, API requests and webhooks. Never sent anywhere. */
  secret: string;
  /**
   * The Hubcast namespace that holds this app's channels: Pusher channel `X` is Hubcast
   * channel `<namespace>:X`, so native clients on that namespace share them (a publish
   * through either API reaches both). It must be configured in `namespaces`.
   * @default "" (the app's own namespace `pusher.<id>`, which native clients cannot reach)
   */
  namespace?: string;
  /** Refuse new connections: they get 4003. @default true */
  enabled?: boolean;
  /** Most connections of this app on one node; past it new ones get 4004. 0: no limit. @default 0 */
  maxConnections?: number;
  /** Clients may send `client-` events on private and presence channels. @default false, as in Pusher */
  clientEvents?: boolean;
  /** Most client events one connection may send per second; past it they are refused with 4301. @default 10 */
  maxClientEventsPerSecond?: number;
  /** Largest event data, in bytes, from a client or the HTTP API; larger ones are refused (413). @default 10_240 */
  maxEventBytes?: number;
  /** Most members of one presence channel. @default 100 */
  maxPresenceMembers?: number;
  /** Largest `user_info` of a presence member, in bytes. @default 1_024 */
  maxPresenceInfoBytes?: number;
  /**
   * The `activity_timeout` clients are given: seconds of silence after which they ping. The
   * node's own ping (`pingIntervalMs`, `pongTimeoutMs`) closes clients that stop answering (4201).
   * @default 120
   */
  activityTimeoutSeconds?: number;
  /** Where this app's webhooks go. @default none */
  webhooks?: WebhookTarget[];
}

export type ResolvedPusherApp = Readonly<Required<Omit<PusherAppOptions, "webhooks">>> & {
  readonly webhooks: readonly Readonly<Required<WebhookTarget>>[];
};

/** Every app option, in the order docs/pusher.md lists them. */
export const APP_KEYS = [
  "id",
  "key",
  "secret",
  "namespace",
  "enabled",
  "maxConnections",
  "clientEvents",
  "maxClientEventsPerSecond",
  "maxEventBytes",
  "maxPresenceMembers",
  "maxPresenceInfoBytes",
  "activityTimeoutSeconds",
  "webhooks",
] as const satisfies readonly (keyof PusherAppOptions)[];

/** Ids and keys: what fits in a URL path segment and a namespace name. */
const APP_ID = /^[A-Za-z0-9_.-]{1,56}$/;
const APP_KEY = /^[A-Za-z0-9_.-]{1,128}$/;
const APP_SECRET = /^[\x21-\x7e]{8,256}$/;

/** The namespace an app's channels live in when none is configured. */
export const ownNamespace = (appId: string): string => `pusher.${appId}`;

/** Resolves and checks `pusherApps`; `where` names the option in errors. Ids and keys must be unique. */
export function resolvePusherApps(apps: unknown, where = "pusherApps"): readonly ResolvedPusherApp[] {
  if (!Array.isArray(apps)) {
    throw new OptionError(where, 'must be a list of apps: [{"id": "1", "key": "app-key", "secret": "app-secret"}]');
  }
  const resolved = apps.map((app, i) => resolvePusherApp(app, `${where}[${i}]`));
  for (const field of ["id", "key"] as const) {
    const seen = new Set<string>();
    for (const [i, app] of resolved.entries()) {
      if (seen.has(app[field])) throw new OptionError(`${where}[${i}].${field}`, `"${app[field]}" is used twice`);
      seen.add(app[field]);
    }
  }
  return Object.freeze(resolved);
}

function resolvePusherApp(app: unknown, where: string): ResolvedPusherApp {
  if (typeof app !== "object" || app === null || Array.isArray(app)) {
    throw new OptionError(where, 'must be an app: {"id": "1", "key": "app-key", "secret": "app-secret"}');
  }
  checkKnownKeys(where, app, APP_KEYS);
  const o = app as PusherAppOptions;
  const webhooks = o.webhooks ?? [];
  if (!Array.isArray(webhooks)) throw new OptionError(`${where}.webhooks`, 'must be a list: [{"url": "https://..."}]');
  return Object.freeze({
    id: checkString(`${where}.id`, o.id, APP_ID, "1-56 of A-Z a-z 0-9 _ . -"),
    key: checkString(`${where}.key`, o.key, APP_KEY, "1-128 of A-Z a-z 0-9 _ . -"),
    secret: checkSecret(`${where}.secret`, o.secret, APP_SECRET, "8-256 printable ASCII characters"),
    namespace: checkString(`${where}.namespace`, o.namespace ?? "", /^([A-Za-z0-9_.-]{1,64})?$/, "a namespace name"),
    enabled: checkBoolean(`${where}.enabled`, o.enabled ?? true),
    maxConnections: checkInteger(`${where}.maxConnections`, o.maxConnections ?? 0, 0),
    clientEvents: checkBoolean(`${where}.clientEvents`, o.clientEvents ?? false),
    maxClientEventsPerSecond: checkInteger(
      `${where}.maxClientEventsPerSecond`,
      o.maxClientEventsPerSecond ?? 10,
      1,
      1_000_000,
    ),
    maxEventBytes: checkInteger(`${where}.maxEventBytes`, o.maxEventBytes ?? 10_240, 16, 64 * 1024 * 1024),
    maxPresenceMembers: checkInteger(`${where}.maxPresenceMembers`, o.maxPresenceMembers ?? 100, 1, 1_000_000),
    maxPresenceInfoBytes: checkInteger(`${where}.maxPresenceInfoBytes`, o.maxPresenceInfoBytes ?? 1_024, 2, 1_048_576),
    activityTimeoutSeconds: checkInteger(`${where}.activityTimeoutSeconds`, o.activityTimeoutSeconds ?? 120, 1, 3_600),
    webhooks: Object.freeze(webhooks.map((hook, i) => resolveWebhook(hook, `${where}.webhooks[${i}]`))),
  });
}

function resolveWebhook(hook: unknown, where: string): Readonly<Required<WebhookTarget>> {
  if (typeof hook !== "object" || hook === null || Array.isArray(hook))
    throw new OptionError(where, 'must be {"url": "https://...", "events": [...]}');
  checkKnownKeys(where, hook, ["url", "events"]);
  const { url, events } = hook as WebhookTarget;
  checkString(`${where}.url`, url, /^https?:\/\/\S+$/, "an http:// or https:// URL");
  const list = events ?? WEBHOOK_EVENTS;
  if (!Array.isArray(list) || list.length === 0)
    throw new OptionError(`${where}.events`, `must be a non-empty list of ${WEBHOOK_EVENTS.join(", ")}`);
  for (const event of list) {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(event))
      throw new OptionError(
        `${where}.events`,
        `unknown event ${JSON.stringify(event)}; one of ${WEBHOOK_EVENTS.join(", ")}`,
      );
  }
  return Object.freeze({ url, events: Object.freeze([...list]) as WebhookEventName[] });
}

/** Parses `--pusher-app id:key:secret` (and HUBCAST_PUSHER_APP): one app with default settings. */
export function parsePusherAppFlag(value: string): PusherAppOptions {
  const [id, key, ...rest] = value.split(":");
  const secret = rest.join(":");
  if (id === undefined || id === "" || key === undefined || key === "" || secret === "")
    throw new OptionError("pusher-app", "must be id:key:secret, for example 1:app-key:app-secret");
  return { id, key, secret };
}

/** The namespace that holds `app`'s channels. */
export const namespaceOf = (app: ResolvedPusherApp): string =>
  app.namespace === "" ? ownNamespace(app.id) : app.namespace;
