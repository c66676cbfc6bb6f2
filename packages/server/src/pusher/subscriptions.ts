/**
 * `pusher:subscribe` and the end of a Pusher subscription: Pusher's access rules (channel
 * authorization, presence `channel_data`, user channels) on the Hub's subscription path, so a
 * Pusher subscriber gets the same fan-out, broker, limits and cluster-wide presence as a native one.
 */
import type { ClientInfo, JsonValue, RawPublication, StreamPosition } from "@hubcast/protocol";
import { parseJsonData } from "@hubcast/protocol";
import type { HistoryPage } from "../history/history.js";
import { USER_CHANNEL_PREFIX, channelKind, hubcastChannel, invalidChannelName } from "./channels.js";
import type { ChannelKind } from "./channels.js";
import { envelopeOf, pusherMessage } from "./codec.js";
import type { PusherConnection } from "./connection.js";
import { validChannelAuth } from "./signatures.js";

/** Why a subscribe was refused, as `pusher:subscription_error` tells it. */
class SubscriptionError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Channel → the presence members object `pusher_internal:subscription_succeeded` carries. */
function presenceData(entries: Record<string, ClientInfo>): {
  ids: string[];
  hash: Record<string, unknown>;
  count: number;
} {
  const hash: Record<string, unknown> = {};
  const ids: string[] = [];
  for (const entry of Object.values(entries)) {
    if (Object.hasOwn(hash, entry.user)) continue;
    ids.push(entry.user);
    hash[entry.user] = entry.info ?? null;
  }
  return { ids, hash, count: ids.length };
}

/** Runs one `pusher:subscribe`; refusals are answered with `pusher:subscription_error` on the channel. */
export async function subscribeChannel(
  conn: PusherConnection,
  data: Record<string, unknown> | undefined,
): Promise<void> {
  const channel = data?.channel;
  if (typeof channel !== "string") {
    conn.send(pusherMessage("pusher:error", { code: null, message: 'pusher:subscribe needs a "channel"' }));
    return;
  }
  try {
    await subscribe(conn, channel, data ?? {});
  } catch (err) {
    if (!(err instanceof SubscriptionError)) throw err;
    conn.send(
      pusherMessage("pusher:subscription_error", { type: err.type, error: err.message, status: err.status }, channel),
    );
  }
}

/** Checks who may subscribe; for a presence channel, returns the member this connection will be. */
function admit(
  conn: PusherConnection,
  channel: string,
  kind: ChannelKind,
  data: Record<string, unknown>,
): ClientInfo | undefined {
  if (kind.user !== undefined && conn.user !== kind.user)
    throw new SubscriptionError("AuthError", "sign in as this user (pusher:signin) to subscribe to its channel", 403);
  if (!kind.authorized) return undefined;
  const channelData = kind.presence ? data.channel_data : undefined;
  if (kind.presence && typeof channelData !== "string")
    throw new SubscriptionError("AuthError", "a presence channel needs channel_data", 400);
  const request = { socketId: conn.socketId, channel, auth: data.auth, channelData: channelData as string | undefined };
  if (!validChannelAuth(conn.app, request))
    throw new SubscriptionError("AuthError", `invalid signature for channel "${channel}"`, 401);
  if (!kind.presence) return undefined;
  const parsed = parseJsonData(Buffer.from(channelData as string), conn.ctx.node.options.maxDataDepth);
  const value = parsed.ok ? (parsed.value as Record<string, unknown> | null) : null;
  const userId = value?.user_id;
  if ((typeof userId !== "string" || userId === "") && typeof userId !== "number")
    throw new SubscriptionError("AuthError", 'channel_data needs a "user_id"', 400);
  const info = value?.user_info as JsonValue | undefined;
  if (info !== undefined && Buffer.byteLength(JSON.stringify(info)) > conn.app.maxPresenceInfoBytes)
    throw new SubscriptionError("LimitReached", `user_info is larger than ${conn.app.maxPresenceInfoBytes} bytes`, 413);
  const member: ClientInfo = { client: conn.socketId, user: String(userId) };
  if (info !== undefined) member.info = info;
  return member;
}

async function subscribe(conn: PusherConnection, channel: string, data: Record<string, unknown>): Promise<void> {
  const invalid = invalidChannelName(channel);
  if (invalid !== undefined) throw new SubscriptionError("InvalidChannel", invalid, 400);
  const kind = channelKind(channel);
  const member = admit(conn, channel, kind, data);
  const { session } = conn;
  const node = conn.ctx.node;
  const hub = hubcastChannel(conn.state.namespace, channel);
  if (session.subscription(hub) !== undefined) return; // already (being) subscribed: nothing to do, as Pusher
  const lookup = node.rules.lookup(hub);
  if (!lookup.ok) throw new SubscriptionError("InvalidChannel", lookup.reason, 400);
  if (session.subscriptionCount >= node.options.maxSubscriptionsPerConnection) {
    node.metrics.limitRejected("subscriptions");
    throw new SubscriptionError("LimitReached", "too many subscriptions on this connection", 429);
  }
  const { history } = lookup.options;
  session.setSubscription(hub, false);
  if (member !== undefined) conn.members.set(hub, member);
  let page: HistoryPage | undefined;
  let members: Record<string, ClientInfo> | undefined;
  try {
    await node.hub.addPending(hub, session);
    // Cache channels read their last event; other channels with history read their position,
    // so the Hub follows the reply with exactly what came after it.
    if (history.size > 0)
      page = await node.engine.history.read(
        hub,
        kind.cache ? { since: undefined, limit: 1, reverse: true } : { since: undefined, limit: 0 },
        history,
      );
    if (member !== undefined) members = await join(conn, hub, member);
  } catch (err) {
    if (session.subscription(hub) === false) session.release(hub);
    if (err instanceof SubscriptionError) throw err;
    node.logger.warn({ err, channel: hub }, "pusher subscribe failed");
    throw new SubscriptionError("ServerError", "the server could not subscribe; retry", 503);
  }
  if (session.subscription(hub) !== false) {
    // Unsubscribed or closed meanwhile: release() removed the presence entry, maybe before it was added.
    if (member !== undefined)
      await node.engine.presence.remove(hub, member.client).catch((err: unknown) => {
        node.logger.warn({ err, channel: hub }, "presence remove failed");
      });
    return;
  }
  conn.send(
    pusherMessage(
      "pusher_internal:subscription_succeeded",
      members === undefined ? {} : { presence: presenceData(members) },
      channel,
    ),
  );
  if (kind.cache) sendCached(conn, channel, page?.publications[0]);
  goLive(conn, { channel, hub, position: page?.position, member, members });
}

/** Adds the presence entry (refusing past the app's member limit) and returns the members with it. */
async function join(conn: PusherConnection, hub: string, member: ClientInfo): Promise<Record<string, ClientInfo>> {
  const presence = conn.ctx.node.engine.presence;
  await conn.ctx.leaves.settled(hub, member.user); // a reload on this node: its leave first
  const before = await presence.get(hub);
  const users = new Set(Object.values(before).map((entry) => entry.user));
  if (!users.has(member.user) && users.size >= conn.app.maxPresenceMembers)
    throw new SubscriptionError(
      "LimitReached",
      `presence channels hold at most ${conn.app.maxPresenceMembers} members`,
      403,
    );
  await presence.add(hub, member);
  return { ...before, [member.client]: member };
}

function sendCached(conn: PusherConnection, channel: string, last: RawPublication | undefined): void {
  if (last === undefined) {
    conn.send(pusherMessage("pusher:cache_miss", {}, channel));
    return;
  }
  const { event, data, user_id } = envelopeOf(last);
  conn.send(pusherMessage(event, data, channel, user_id));
}

/** Makes the subscription live, then tells others: member_added for a user's first connection, occupancy. */
function goLive(
  conn: PusherConnection,
  live: {
    channel: string;
    hub: string;
    position: StreamPosition | undefined;
    member: ClientInfo | undefined;
    members: Record<string, ClientInfo> | undefined;
  },
): void {
  const { session } = conn;
  const node = conn.ctx.node;
  const { channel, hub, member, members } = live;
  if (!node.hub.promote(hub, session, live.position)) return;
  session.setSubscription(hub, true);
  // A user's own channel (`#server-to-user-`) is plumbing, not a channel the app sees occupied.
  const reported = !channel.startsWith(USER_CHANNEL_PREFIX);
  const first = node.hub.liveCount(hub) === 1;
  if (reported && first) conn.ctx.events.occupiedLocally(conn.app, channel, hub);
  if (member === undefined || members === undefined) return;
  if (first) conn.ctx.membersShown(hub, Object.values(members));
  const firstOfUser = Object.values(members).every(
    (entry) => entry.user !== member.user || entry.client === member.client,
  );
  if (!firstOfUser) return;
  node.engine.broker
    .publishJoin(hub, member)
    .catch((err: unknown) => node.logger.warn({ err, channel: hub }, "member_added push failed"));
  conn.ctx.events.memberAdded(conn.app, channel, hub, member.user);
}

/**
 * The subscription to `hub` ended (the Hub has let it go): removes the presence entry and, when
 * it was the user's last connection in the channel, pushes member_removed; reports occupancy.
 */
export function releaseChannel(conn: PusherConnection, hub: string, live: boolean): void {
  const node = conn.ctx.node;
  const channel = hub.slice(conn.state.namespace.length + 1);
  if (live && !channel.startsWith(USER_CHANNEL_PREFIX) && node.hub.liveCount(hub) === 0)
    conn.ctx.events.vacatedLocally(conn.app, channel, hub);
  const member = conn.members.get(hub);
  if (member === undefined) return;
  conn.members.delete(hub);
  const presence = node.engine.presence;
  const { app, ctx } = conn;
  const left = async (): Promise<void> => {
    if (!live) {
      await presence.remove(hub, member.client); // never announced: nothing to tell
      return;
    }
    // Others that find the user gone from presence must also find that the user may be leaving.
    await ctx.events.memberLeaving(app, channel, hub, member.user);
    let last = false;
    try {
      await presence.remove(hub, member.client);
      const rest = await presence.get(hub);
      last = !Object.values(rest).some((entry) => entry.user === member.user); // else another connection stays
      if (last) await node.engine.broker.publishLeave(hub, { client: member.client, user: member.user });
    } finally {
      if (last) ctx.events.memberRemoved(app, channel, hub, member.user);
      else ctx.events.memberStayed(app, channel, hub, member.user);
    }
  };
  conn.ctx.leaves.track(
    hub,
    member.user,
    left().catch((err: unknown) => node.logger.warn({ err, channel: hub }, "presence leave failed")),
  );
}
