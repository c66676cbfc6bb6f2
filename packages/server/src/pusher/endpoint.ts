/**
 * The Pusher protocol's door: WebSocket upgrades on `/app/{key}`, for the apps of the
 * `pusherApps` option. A connection is a {@link Session} like any other, speaking the Pusher
 * protocol through a {@link PusherConnection}.
 */
import { randomInt } from "node:crypto";
import type { Duplex } from "node:stream";
import type { ClientInfo, RawPublication } from "@hubcast/protocol";
import type { ChannelOptions, ChannelOptionsByName } from "../channels.js";
import type { FanoutExclusions } from "../hub.js";
import { OptionError } from "../validation.js";
import type { Session } from "../session.js";
import { Session as SessionClass } from "../session.js";
import type { Admission } from "../transport/admission.js";
import type { WebSocketConnection } from "../transport/connection.js";
import type { UpgradeRequest } from "../transport/upgrade-request.js";
import { TransportName } from "../transport/transport.js";
import type { WebSocketTransport } from "../transport/websocket.js";
import { IGNORE, reject } from "../transport/websocket.js";
import type { ResolvedPusherApp } from "./apps.js";
import { namespaceOf } from "./apps.js";
import { channelKind, pusherChannelOptions } from "./channels.js";
import { PusherClose } from "./close-codes.js";
import { PUSHER_CODEC, envelopeOf, pusherMessage } from "./codec.js";
import type { PusherAppState, PusherContext } from "./connection.js";
import { PusherConnection } from "./connection.js";

/** Where Pusher clients connect: `/app/{key}`. */
export const PUSHER_PATH_PREFIX = "/app/";
/** The protocol versions spoken (pusher-js 8 speaks 7). */
const PROTOCOLS = { min: 5, max: 7 };

/** The configured apps, by key and by id, and what the node's channel rules and fan-out need to know of them. */
export class PusherApps {
  private readonly byKey = new Map<string, PusherAppState>();
  private readonly byId = new Map<string, PusherAppState>();
  /** The apps by the namespace that holds their channels. */
  private readonly namespaces = new Map<string, PusherAppState>();

  constructor(
    apps: readonly ResolvedPusherApp[],
    private readonly configured: Readonly<Record<string, ChannelOptions>>,
  ) {
    for (const [i, app] of apps.entries()) {
      const namespace = namespaceOf(app);
      if (app.namespace !== "" && !(app.namespace in configured))
        throw new OptionError(`pusherApps[${i}].namespace`, `"${app.namespace}" is not configured in namespaces`);
      if (this.namespaces.has(namespace))
        throw new OptionError(`pusherApps[${i}].namespace`, `"${namespace}" holds another app's channels already`);
      const state: PusherAppState = { app, namespace, connections: new Set() };
      this.namespaces.set(namespace, state);
      this.byKey.set(app.key, state);
      this.byId.set(app.id, state);
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  app(by: { key: string } | { id: string }): PusherAppState | undefined {
    return "key" in by ? this.byKey.get(by.key) : this.byId.get(by.id);
  }

  /** The app whose namespace holds `channel` (a node channel name, `namespace:name`). */
  ofChannel(channel: string): PusherAppState | undefined {
    const cut = channel.indexOf(":");
    return cut > 0 ? this.namespaces.get(channel.slice(0, cut)) : undefined;
  }

  all(): Iterable<PusherAppState> {
    return this.byKey.values();
  }

  /** Channel options by name for every app namespace (for the node's ChannelRules). */
  channelOptions(): Map<string, ChannelOptionsByName> {
    const byName = new Map<string, ChannelOptionsByName>();
    for (const { namespace, app } of this.byKey.values()) {
      const base = app.namespace === "" ? undefined : this.configured[app.namespace];
      byName.set(namespace, pusherChannelOptions(base, `pusherApps.${app.id}`));
    }
    return byName;
  }

  /** Whether a Hubcast channel is a Pusher presence channel of one of the apps. */
  isPresenceChannel(channel: string): boolean {
    const cut = channel.indexOf(":");
    return cut > 0 && this.namespaces.has(channel.slice(0, cut)) && channelKind(channel.slice(cut + 1)).presence;
  }

  /**
   * Pusher's senders never receive their own events: a client event skips its sender, an API
   * event skips its `socket_id`, a joining member is not told it joined. Other channels skip nobody.
   */
  exclusions(): FanoutExclusions {
    const namespaces = this.namespaces;
    const ofApp = (channel: string): boolean => namespaces.has(channel.slice(0, channel.indexOf(":")));
    return {
      publication: (pub: RawPublication) => (ofApp(pub.channel) ? envelopeOf(pub).socket_id : undefined),
      joinLeave: (channel: string, info: ClientInfo) => (ofApp(channel) ? info.client : undefined),
    };
  }
}

/** The app key and the parsed URL of an upgrade request; undefined when the URL cannot be read (bad percent-encoding). */
function appTarget(path: string): { key: string; url: URL } | undefined {
  try {
    const url = new URL(path, "http://node");
    return { key: decodeURIComponent(url.pathname.slice(PUSHER_PATH_PREFIX.length)), url };
  } catch {
    return undefined;
  }
}

/** A Pusher socket id: two numbers, as Pusher's server SDKs check (`^\d+\.\d+$`). */
const newSocketId = (): string => `${randomInt(1, 2 ** 47)}.${randomInt(1, 2 ** 47)}`;

export class PusherEndpoint {
  constructor(
    private readonly apps: PusherApps,
    private readonly ctx: PusherContext,
    private readonly deps: { websocket: WebSocketTransport; sessions: Set<Session>; admission: Admission },
  ) {}

  /** The `upgrade` listener for `/app/{key}`. Refusals after the handshake are told in-band, as Pusher does. */
  handleUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    const target = appTarget(req.url ?? "/");
    if (target === undefined) {
      reject(socket, "400 Bad Request", "connect to /app/{key}?protocol=7");
      return;
    }
    const { key, url } = target;
    if (key === "" || key.includes("/")) {
      reject(socket, "404 Not Found", "connect to /app/{key}");
      return;
    }
    const connection = this.deps.websocket.open(req, socket, undefined);
    if (connection === undefined) return;
    const state = this.apps.app({ key });
    const refusal = this.refusal(state, url.searchParams.get("protocol"), req.socket.remoteAddress);
    if (refusal !== undefined || state === undefined) {
      const { code, message } = refusal ?? { code: PusherClose.appNotFound, message: "no such app" };
      turnAway(connection, head, code, message);
      return;
    }
    const node = this.ctx.node;
    const remoteAddress = req.socket.remoteAddress;
    const session = new SessionClass(connection, PUSHER_CODEC, node, remoteAddress, this.deps.sessions, newSocketId());
    const pusher = new PusherConnection(session, state, this.ctx);
    session.speak(pusher);
    state.connections.add(pusher);
    session.connected({ user: "", channels: [] }, Date.now());
    node.metrics.accepted(TransportName.websocket);
    node.logger.debug({ client: session.id, app: state.app.id, remoteAddress }, "pusher connection accepted");
    connection.start(session, head);
    pusher.send(
      pusherMessage("pusher:connection_established", {
        socket_id: session.id,
        activity_timeout: state.app.activityTimeoutSeconds,
      }),
    );
  }

  private refusal(
    state: PusherAppState | undefined,
    protocol: string | null,
    remoteAddress: string | undefined,
  ): { code: number; message: string } | undefined {
    if (state === undefined) return { code: PusherClose.appNotFound, message: "App key not in this cluster" };
    if (protocol === null) return { code: PusherClose.noProtocol, message: "No protocol version supplied" };
    const version = Number(protocol);
    if (!Number.isInteger(version) || version < PROTOCOLS.min || version > PROTOCOLS.max)
      return {
        code: PusherClose.unsupportedProtocol,
        message: `Unsupported protocol version ${protocol.slice(0, 20)}`,
      };
    const { app } = state;
    if (!app.enabled) return { code: PusherClose.appDisabled, message: "Application disabled" };
    if (app.maxConnections > 0 && state.connections.size >= app.maxConnections) {
      this.ctx.node.metrics.limitRejected("connections_per_app");
      return { code: PusherClose.overQuota, message: "Application is over connection quota" };
    }
    const admitted = this.deps.admission.check(remoteAddress);
    if (admitted !== undefined) return { code: PusherClose.overCapacity, message: admitted.reason };
    return undefined;
  }
}

/** Tells a just-upgraded socket why it is refused (`pusher:error`, then the close code), without a session. */
function turnAway(connection: WebSocketConnection, head: Buffer, code: number, message: string): void {
  connection.start(IGNORE, head);
  connection.write(connection.framer.frame(pusherMessage("pusher:error", { code, message }), false));
  connection.close(code, message);
}
