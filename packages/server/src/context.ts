import type { JsonValue } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { AuthSetup } from "./auth/access.js";
import type { ChannelRules } from "./channels.js";
import type { Engine } from "./engine/engine.js";
import type { Hub } from "./hub.js";
import type { ConnectionCounter } from "./limits.js";
import type { WriteBatch } from "./write-batch.js";
import type { Metrics } from "./metrics.js";
import type { ResolvedNodeOptions } from "./options.js";
import type { Publisher } from "./publishing.js";
import type { DeflateFramer } from "./transport/deflate.js";

/** What a client presents when it sends `connect`. */
export interface AuthenticateEvent {
  /** The `token` field of `connect`, if any. */
  token: string | undefined;
  /** The client's `name` field, if any. */
  name: string | undefined;
  /** The peer address of the socket. */
  remoteAddress: string | undefined;
}

/** Who the connection is. `user: ""` is anonymous. */
export interface AuthenticateReply {
  user: string;
  info?: JsonValue;
  /** Channels of `subscribe: "listed"` namespaces this user may subscribe to (exact, or a prefix ending in `*`). @default [] */
  channels?: readonly string[];
  /** When the credentials expire, in ms since the Unix epoch: the connection is closed (3005) unless a `refresh` extends it. @default never */
  expiresAt?: number;
}

/**
 * Decides who a connecting client is. Return `null` to refuse the connection (the client gets
 * an `unauthorized` error). Without a hook every connection is anonymous.
 */
export type AuthenticateHook = (event: AuthenticateEvent) => Promise<AuthenticateReply | null>;

/** The node's services as sessions and command handlers see them. */
export interface NodeContext {
  readonly options: ResolvedNodeOptions;
  readonly rules: ChannelRules;
  readonly engine: Engine;
  readonly hub: Hub;
  readonly logger: Logger;
  readonly authenticate: AuthenticateHook | undefined;
  /** How connections authenticate (hook, token keys, anonymous) and channel tokens are checked. */
  readonly auth: AuthSetup;
  /** The node's Prometheus metrics: count with its methods (`limitRejected`, `authFailure`, …). */
  readonly metrics: Metrics;
  /** Live connections per user and per IP address on this node, for the connection limits. */
  readonly connections: { readonly perUser: ConnectionCounter; readonly perIp: ConnectionCounter };
  /** Coalesces each socket's writes within one event-loop turn. */
  readonly writes: WriteBatch;
  /** Frames (and deflates) output for connections that negotiated permessage-deflate; `undefined` when the `compression` option is off. */
  readonly deflateFramer: DeflateFramer | undefined;
  /** Publishes for clients and the server API with the node's deadline, and logs failures once per interval. */
  readonly publisher: Publisher;
}
