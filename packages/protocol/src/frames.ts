/**
 * Protocol v1 frame shapes. A command is `{"id": n, "<method>": request}`; its one reply is
 * `{"id": n, "<method>": result}` or `{"id": n, "error": {...}}`. Pushes carry no id:
 * `{"<push>": body}`. The same shapes map one-to-one onto the Protobuf encoding's messages.
 */

/** Any value JSON can carry. Publication data is always one of these in the JSON encoding. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The protocol version this package speaks; `connect` replies carry the server's. */
export const PROTOCOL_VERSION = 1;

/**
 * WebSocket subprotocols, one per encoding: JSON in text frames, Protobuf in binary frames
 * (schema: `packages/protocol/proto/hubcast/v1/hubcast.proto`, which describes both).
 */
export const Subprotocol = { json: "hubcast.v1.json", protobuf: "hubcast.v1.protobuf" } as const;
export type Subprotocol = (typeof Subprotocol)[keyof typeof Subprotocol];

/** Where a channel's history stands: `offset` grows by one per publication within an `epoch`. */
export interface StreamPosition {
  /** The last publication's number in this epoch (the first is 1); 0 when there is none yet. */
  offset: number;
  /** Changes whenever history may have been lost, so "nothing missed" is told from "cannot know". */
  epoch: string;
}

/** Who a connection is, as others see it in presence, join/leave and publications. */
export interface ClientInfo {
  /** Server-assigned connection id, unique across the cluster. */
  client: string;
  /** User id; `""` for anonymous connections. */
  user: string;
  /** Application data about the user (from the auth hook); absent when there is none. */
  info?: JsonValue;
}

/** A publication as delivered to clients. */
export interface Publication {
  /** What was published: any JSON value, decoded. */
  data: JsonValue;
  /** Present when the channel keeps history. */
  offset?: number;
  /** The publishing client, when a client (not the server API) published. */
  info?: ClientInfo;
}

export interface ConnectRequest {
  /** Credentials for the server's authenticate hook. */
  token?: string;
  /** Client name and version, for logs. */
  name?: string;
  version?: string;
}
/** Reply to `connect`: who the connection is and the server's limits. */
export interface ConnectResult {
  /** This connection's id, unique across the cluster; others see it in presence and join/leave. */
  client: string;
  /** The server's protocol version. */
  version: number;
  /** Server ping period in ms: the server sends a `ping` push at least this often. */
  pingIntervalMs: number;
  /**
   * How late a ping may be, in ms (the server's pongTimeoutMs, the time it gives the client to
   * answer): a client that hears nothing for `pingIntervalMs + pongTimeoutMs` may treat the link
   * as dead. Absent from servers older than this field.
   */
  pongTimeoutMs?: number;
  /** Largest frame the server accepts, in bytes. */
  maxMessageBytes: number;
  /**
   * When the connection's token expires, in ms since the Unix epoch; absent when it never
   * does. Send `refresh` with a fresh token before then, or the server closes with 3005.
   */
  expiresAt?: number;
}

/**
 * Delta encodings a subscriber may ask for with `subscribe`'s `delta`. `fossil`: the Fossil SCM
 * delta format (with its checksum), applied to the publications' UTF-8 JSON text.
 */
export const DELTA_TYPES = ["fossil"] as const;
export type DeltaType = (typeof DELTA_TYPES)[number];

export interface SubscribeRequest {
  channel: string;
  /** Last position the client saw: asks the server to recover what came after it. */
  since?: StreamPosition;
  /** A channel token (JWT) for namespaces with `subscribe: "token"`; ignored elsewhere. */
  token?: string;
  /**
   * Asks for live publications as deltas against the previous one, where the namespace allows
   * it (`allowDelta`); the reply's `delta` says whether it was granted.
   */
  delta?: DeltaType;
}
/** Reply to `subscribe`. */
export interface SubscribeResult {
  /** True when the channel keeps history, so positions (and recovery) apply. */
  recoverable: boolean;
  /** The channel's position at the moment the subscription went live (when recoverable). */
  position?: StreamPosition;
  /** Present when `since` was sent: were all missed publications recovered? */
  recovered?: boolean;
  /** Publications missed since `since`, oldest first, delivered exactly once. */
  publications?: Publication[];
  /**
   * Present when `delta` was asked for: true when granted (live publications may then come as
   * deltas, the first one after this reply always in full), false when the namespace does not
   * allow deltas (every publication comes in full).
   */
  delta?: boolean;
}

export interface ChannelRequest {
  channel: string;
}
export type UnsubscribeRequest = ChannelRequest;
export type UnsubscribeResult = Record<string, never>;

export interface PublishRequest {
  channel: string;
  data: JsonValue;
  /**
   * 1 to 64 characters chosen by the publisher. A publish whose key was used in the channel
   * within the server's idempotency window is not made again: it answers with the first
   * position. Retry a publish that failed (100, 114) with the same key.
   */
  idempotencyKey?: string;
  /**
   * Server side, never sent: `data` as the UTF-8 JSON text that arrived, set by codecs that
   * carry data as bytes (Protobuf) after checking it is valid JSON. The server forwards these
   * bytes to subscribers of every encoding instead of encoding `data` again.
   */
  rawData?: Uint8Array;
}
/** Reply to `publish`. */
export interface PublishResult {
  /** Where the publication landed in history, when the channel keeps history. */
  position?: StreamPosition;
}

export type PresenceRequest = ChannelRequest;
/** Reply to `presence`: everyone subscribed to the channel, across the cluster. */
export interface PresenceResult {
  /** Connection id → who it is. */
  clients: Record<string, ClientInfo>;
}
export type PresenceStatsRequest = ChannelRequest;
/** Reply to `presence_stats`: counts only, cheaper than `presence` for big channels. */
export interface PresenceStatsResult {
  /** Connections subscribed to the channel. */
  numClients: number;
  /** Distinct users among them (anonymous connections count as one user, `""`). */
  numUsers: number;
}

export interface HistoryRequest {
  channel: string;
  /** Most publications to return; 0 returns none (only the position). @default the server's maximum */
  limit?: number;
  /** Return publications after this position (same epoch only). */
  since?: StreamPosition;
  /** Newest first. @default false */
  reverse?: boolean;
}
/** Reply to `history`. */
export interface HistoryResult {
  /** The publications asked for, oldest first unless `reverse`. */
  publications: Publication[];
  /** The channel's current position. */
  position: StreamPosition;
}

export interface RefreshRequest {
  /** A fresh connection token for the same user (`sub`) as the one the connection has. */
  token: string;
}
/** Reply to `refresh`. */
export interface RefreshResult {
  /** When the new token expires, in ms since the Unix epoch; absent when it never does. */
  expiresAt?: number;
}

/** Every method: its request and its result. The method name is the command's key on the wire. */
export interface Methods {
  connect: { request: ConnectRequest; result: ConnectResult };
  subscribe: { request: SubscribeRequest; result: SubscribeResult };
  unsubscribe: { request: UnsubscribeRequest; result: UnsubscribeResult };
  publish: { request: PublishRequest; result: PublishResult };
  presence: { request: PresenceRequest; result: PresenceResult };
  presence_stats: { request: PresenceStatsRequest; result: PresenceStatsResult };
  history: { request: HistoryRequest; result: HistoryResult };
  refresh: { request: RefreshRequest; result: RefreshResult };
}
export type Method = keyof Methods;
export const METHODS: readonly Method[] = [
  "connect",
  "subscribe",
  "unsubscribe",
  "publish",
  "presence",
  "presence_stats",
  "history",
  "refresh",
] as const;

/** A decoded command: the wire's `{"id", "<method>": request}` as a tagged union. */
export type Command = { [M in Method]: { id: number; method: M; request: Methods[M]["request"] } }[Method];

export interface ErrorBody {
  code: number;
  message: string;
  /** The same command may succeed if retried later. */
  temporary?: boolean;
}

/** A decoded reply: exactly one per command, with the command's id. */
export type Reply =
  | { [M in Method]: { id: number; method: M; result: Methods[M]["result"] } }[Method]
  | { id: number; error: ErrorBody };

/** A publication pushed to a subscriber: the publication and its channel. */
export interface PublicationPush extends Publication {
  /** The channel it was published to. */
  channel: string;
  /**
   * True: the data travelled as a delta (the subscription's `delta` type) against the previous
   * publication this subscription received; absent for a publication sent in full. The SDK
   * resolves deltas, so its `publication` events never carry this.
   */
  delta?: boolean;
  /**
   * Client side, never sent: the data as it travelled, set by the codecs' `decodeServerFrame`.
   * When `delta` is true, the delta's bytes (`data` is then `null` until the delta is applied);
   * otherwise the publication's JSON text, as bytes (UTF-8) or, from the JSON encoding, as a
   * string (left unencoded until a subscription needs it as the base of a delta).
   */
  rawData?: Uint8Array | string;
}
/**
 * A `join` or `leave` push: one connection subscribed to or left a channel. Hubcast's own
 * channels (`joinLeave` on) send {@link MembersPush} instead; the SDK emits one of these per
 * member it lists.
 */
export interface JoinLeavePush {
  /** The channel joined or left. */
  channel: string;
  /** Who joined or left. */
  info: ClientInfo;
}
/** How many joins and leaves a {@link MembersPush} stands for when it was too many to list. */
export interface MembersSummary {
  /** Subscriptions that started in the period. */
  joins: number;
  /** Subscriptions that ended in the period. */
  leaves: number;
}
/**
 * A `members` push: who joined and who left a channel with `joinLeave` on during one period of
 * the node's join/leave timer, the same frame for every subscriber. Apply `leaves` first, then
 * `joins` (a connection that left and subscribed again in one period is in both; one that
 * subscribed and left in one period is in neither). The lists may name the receiving
 * connection itself. With more changes than the node lists in one push (`joinLeaveMaxEntries`),
 * both lists are empty and `summary` holds the counts: refetch presence if you need the members.
 */
export interface MembersPush {
  /** The channel joined and left. */
  channel: string;
  /** Who left, in the order the node heard it. */
  leaves: ClientInfo[];
  /** Who joined, in the order the node heard it. */
  joins: ClientInfo[];
  /** Present, with both lists empty, when the period held too many changes to list. */
  summary?: MembersSummary;
}
export interface UnsubscribePush {
  channel: string;
  /** An {@link UnsubscribeCode}. */
  code: number;
  reason: string;
  /**
   * True: the server could not keep this subscription whole (publications were lost between
   * nodes); subscribe again at once with `since` = the last position to recover what it can.
   */
  resubscribe: boolean;
}
export interface DisconnectPush {
  code: number;
  reason: string;
  reconnect: boolean;
  /** Wait at least this long before reconnecting (plus jitter); present when the node is shedding load. */
  retryAfterMs?: number;
}

/** Every server push (no id) and its body. `ping` asks for a `{"pong":{}}` frame back. */
export interface Pushes {
  publication: PublicationPush;
  join: JoinLeavePush;
  leave: JoinLeavePush;
  members: MembersPush;
  unsubscribe: UnsubscribePush;
  disconnect: DisconnectPush;
  ping: Record<string, never>;
}
export type PushType = keyof Pushes;
export const PUSH_TYPES: readonly PushType[] = [
  "publication",
  "join",
  "leave",
  "unsubscribe",
  "disconnect",
  "ping",
  "members",
] as const;
export type Push = { [P in PushType]: { type: P; body: Pushes[P] } }[PushType];

/** What a client may receive: a reply or a push. */
export type ServerFrame = { kind: "reply"; reply: Reply } | { kind: "push"; push: Push };
