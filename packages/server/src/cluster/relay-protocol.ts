import type { ClientInfo, RawPublication, StreamPosition } from "@hubcast/protocol";
import type { HistoryPolicy, PublishOptions } from "../broker/broker.js";
import type { HistoryPage, HistoryQuery } from "../history/history.js";
import type { NodeInfo } from "../registry/registry.js";

/**
 * The engine operations a worker's IpcEngine asks the primary's relay to run, each with its
 * arguments and the value its reply carries. One entry per Broker, HistoryStore,
 * PresenceStore and NodeRegistry method.
 */
export interface RelayOps {
  subscribe: { args: { channels: string[] }; result: null };
  unsubscribe: { args: { channels: string[] }; result: null };
  publish: {
    args: { pub: Omit<RawPublication, "offset">; policy: HistoryPolicy; options?: PublishOptions };
    result: StreamPosition | null;
  };
  publishJoin: { args: { channel: string; info: ClientInfo }; result: null };
  publishLeave: { args: { channel: string; info: ClientInfo }; result: null };
  publishControl: { args: { message: Uint8Array }; result: null };
  historyRead: { args: { channel: string; query: HistoryQuery; policy: HistoryPolicy }; result: HistoryPage };
  historyRemove: { args: { channel: string }; result: null };
  presenceAdd: { args: { channel: string; info: ClientInfo }; result: null };
  presenceRemove: { args: { channel: string; clientId: string }; result: null };
  presenceGet: { args: { channel: string }; result: Record<string, ClientInfo> };
  presenceStats: { args: { channel: string }; result: { numClients: number; numUsers: number } };
  registryAnnounce: { args: { info: NodeInfo }; result: null };
  registryRemove: { args: { nodeId: string }; result: null };
  registryList: { args: Record<never, never>; result: NodeInfo[] };
}

/** The name of one relay operation. */
export type RelayOp = keyof RelayOps;

/** One operation with its arguments, as sent. */
export type RelayCall = { [K in RelayOp]: { op: K } & RelayOps[K]["args"] }[RelayOp];

/** Worker → primary: run `call`; exactly one reply with the same `id` follows. */
export interface RelayRequest {
  kind: "request";
  /** Unique among the sender's outstanding requests. */
  id: number;
  call: RelayCall;
}

/**
 * Primary → worker: the outcome of request `id`; `error` is the primary's message when it
 * failed, and `expired` says it was a publish refused for its deadline (so the worker can
 * tell "not made, retry" from other failures).
 */
export type RelayReply =
  | { kind: "reply"; id: number; ok: true; value: unknown }
  | { kind: "reply"; id: number; ok: false; error: string; expired?: boolean };

/**
 * Primary → worker, unasked: what the worker's broker handlers receive. Publications and
 * join/leave only for channels the worker subscribed to, in the order the primary ran them.
 */
export type RelayEvent =
  | { kind: "publication"; pub: RawPublication }
  | { kind: "join"; channel: string; info: ClientInfo }
  | { kind: "leave"; channel: string; info: ClientInfo }
  | { kind: "control"; message: Uint8Array };

/** Everything that travels over a relay link. */
export type RelayMessage = RelayRequest | RelayReply | RelayEvent;

const KINDS: ReadonlySet<string> = new Set(["request", "reply", "publication", "join", "leave", "control"]);

/** True for values shaped like a relay message (the link is trusted; this only tells them from other IPC traffic). */
export function isRelayMessage(value: unknown): value is RelayMessage {
  return (
    typeof value === "object" &&
    value !== null &&
    "kind" in value &&
    typeof value.kind === "string" &&
    KINDS.has(value.kind)
  );
}
