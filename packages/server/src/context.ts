import type { JsonValue } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { ChannelRules } from "./channels.js";
import type { Engine } from "./engine/engine.js";
import type { Hub } from "./hub.js";
import type { ResolvedNodeOptions } from "./options.js";

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
}
