import type { Command, Methods } from "@hubcast/protocol";
import { CloseCode, ErrorCode, PROTOCOL_VERSION, encodeJsonData } from "@hubcast/protocol";
import { identify, reidentify } from "./auth/access.js";
import type { Identity } from "./auth/access.js";
import { Operation, authorize, decide } from "./auth/decide.js";
import type { AccessRequest } from "./auth/decide.js";
import type { ResolvedChannelOptions } from "./channels.js";
import type { NodeContext } from "./context.js";
import { ReplyError, internalError } from "./errors.js";
import type { HistoryPage } from "./history/history.js";
import { readablePublications } from "./history/readable.js";
import { recoverSince } from "./recovery.js";
import { PublishFailure, PublishFailureKind } from "./publish-failure.js";
import type { Session } from "./session.js";

/** A handler's outcome: the reply's result, and work that must follow the reply in the same tick. */
export interface Output<R> {
  result: R;
  afterReply?: () => void;
}

type Handler<M extends keyof Methods> = (
  session: Session,
  request: Methods[M]["request"],
  ctx: NodeContext,
) => Promise<Output<Methods[M]["result"]>>;

/**
 * Runs one command and sends exactly one reply (unless the connection closed meanwhile). The
 * command's fault boundary: a handler that fails unexpectedly is answered 100 `internal` and
 * logged; a reply that cannot even be encoded or written ends this connection (3001). Neither
 * reaches the process.
 */
export function handleCommand(session: Session, command: Command, ctx: NodeContext): void {
  const handler = handlers[command.method] as Handler<typeof command.method>;
  handler(session, command.request as never, ctx)
    .then(
      (out) => {
        if (!session.isOpen) return;
        session.sendResult(command, out.result);
        out.afterReply?.();
      },
      (err: unknown) => {
        if (!session.isOpen) return;
        if (err instanceof ReplyError) {
          session.sendError(command.id, err.toBody());
          return;
        }
        ctx.metrics.unexpectedError("command");
        ctx.logger.error(
          { err, client: session.id, method: command.method },
          "command failed unexpectedly; answered 100 internal",
        );
        session.sendError(command.id, internalError(command.method).toBody());
      },
    )
    .catch((err: unknown) => session.failed(err));
}

function channelOptions(ctx: NodeContext, channel: string): ResolvedChannelOptions {
  const lookup = ctx.rules.lookup(channel);
  if (!lookup.ok) throw new ReplyError(ErrorCode.unknownChannel, lookup.reason);
  return lookup.options;
}

/** The access question for `operation` on `channel` by this session; its options are looked up (102 when unknown). */
function accessRequest(session: Session, ctx: NodeContext, operation: Operation, channel: string): AccessRequest {
  return {
    operation,
    channel,
    options: channelOptions(ctx, channel),
    connection: { user: session.user, channels: session.listedChannels },
    subscribed: session.subscription(channel) === true,
    tokens: ctx.auth.tokens,
  };
}

/** Backend calls fail as temporary `internal` errors; the cause goes to the log. */
async function backend<T>(ctx: NodeContext, what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    ctx.logger.warn({ err }, `${what} failed`);
    throw internalError(what);
  }
}

/**
 * Why `user` may not open another connection on this node (maxConnectionsPerUser), counted in
 * the metrics; `undefined` when it may. Every transport asks this once its client is identified.
 */
export function userLimitReached(ctx: NodeContext, user: string): string | undefined {
  const { maxConnectionsPerUser } = ctx.options;
  if (maxConnectionsPerUser === 0 || user === "" || ctx.connections.perUser.count(user) < maxConnectionsPerUser)
    return undefined;
  ctx.metrics.limitRejected("connections_per_user");
  return `user already holds ${maxConnectionsPerUser} connections on this node`;
}

const connect: Handler<"connect"> = async (session, request, ctx) => {
  if (session.state !== "connecting") throw new ReplyError(ErrorCode.alreadyConnected, "already connected");
  session.beginConnect();
  let reply: Identity;
  try {
    reply = await identify(ctx.auth, {
      token: request.token,
      name: request.name,
      remoteAddress: session.remoteAddress,
    }).catch((err: unknown) => ctx.metrics.connectRefused(err, request.token));
  } finally {
    session.connectFailed(); // nothing if it was closed meanwhile
  }
  if (!session.isOpen) return { result: undefined as never };
  const limit = userLimitReached(ctx, reply.user);
  if (limit !== undefined) {
    session.close(CloseCode.connectionLimit, limit);
    throw new ReplyError(ErrorCode.limitExceeded, "too many connections for this user");
  }
  session.connected(reply, Date.now());
  ctx.logger.debug({ client: session.id, user: session.user, name: request.name }, "client connected");
  const { pingIntervalMs, pongTimeoutMs, maxMessageBytes } = ctx.options;
  const result: Methods["connect"]["result"] = {
    client: session.id,
    version: PROTOCOL_VERSION,
    pingIntervalMs,
    pongTimeoutMs,
    maxMessageBytes,
  };
  if (reply.expiresAt !== undefined) result.expiresAt = reply.expiresAt;
  return { result };
};

/** Replaces the connection's credentials with a fresh token for the same user; no reconnect. */
const refresh: Handler<"refresh"> = async (session, { token }, ctx) => {
  const identity = await reidentify(ctx.auth, session.user, {
    token,
    name: undefined,
    remoteAddress: session.remoteAddress,
  });
  session.refreshed(identity);
  return { result: identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt } };
};

const subscribe: Handler<"subscribe"> = async (session, { channel, since, token, delta }, ctx) => {
  const access = accessRequest(session, ctx, Operation.subscribe, channel);
  const { options } = access;
  await authorize({ ...access, token });
  // Recovery reads history: without that right the subscribe still succeeds but recovers nothing.
  const recovering = since !== undefined && (await decide({ ...access, operation: Operation.recovery })).allowed;
  if (!session.isOpen) return { result: undefined as never }; // closed while a channel token was checked
  if (session.subscription(channel) !== undefined)
    throw new ReplyError(ErrorCode.alreadySubscribed, `already subscribed to "${channel}"`);
  if (session.subscriptionCount >= ctx.options.maxSubscriptionsPerConnection) {
    ctx.metrics.limitRejected("subscriptions");
    throw new ReplyError(
      ErrorCode.limitExceeded,
      `a connection may hold ${ctx.options.maxSubscriptionsPerConnection} subscriptions (maxSubscriptionsPerConnection)`,
    );
  }
  session.setSubscription(channel, false);
  // Asked for where the namespace does not allow it, deltas are refused by the reply, not an error.
  const deltaGranted = delta !== undefined && options.allowDelta;
  let page: HistoryPage | undefined;
  try {
    // Broker first, then history: whatever is published after the read is buffered by the Hub.
    await backend(ctx, "subscribe", ctx.hub.addPending(channel, session, { delta: deltaGranted }));
    if (options.history.size > 0) {
      const query = recovering ? { since, limit: options.history.size } : { since: undefined, limit: 0 };
      page = await backend(ctx, "history read", ctx.engine.history.read(channel, query, options.history));
    }
    if (options.presence) await backend(ctx, "presence add", ctx.engine.presence.add(channel, session.clientInfo));
    if (options.presence && session.subscription(channel) !== false) {
      // Unsubscribed or closed while we awaited: undo the entry release() removed too early.
      // The reply still goes out; afterReply sees the cancellation and sends nothing more.
      await backend(ctx, "presence remove", ctx.engine.presence.remove(channel, session.id));
    }
  } catch (err) {
    if (session.subscription(channel) === false) session.release(channel);
    throw err;
  }
  const recovered = recovering && page !== undefined ? recoverSince(since, page) : undefined;
  // Counted only where the client may read history: a namespace that forbids it is no failure to recover.
  if (recovering) ctx.metrics.recovery(recovered !== undefined);
  const result: Methods["subscribe"]["result"] = { recoverable: page !== undefined };
  if (page !== undefined) result.position = page.position;
  if (since !== undefined) {
    result.recovered = recovered !== undefined;
    result.publications = readablePublications(
      channel,
      { publications: recovered ?? [], unreadable: page?.unreadable },
      ctx,
    );
  }
  if (delta !== undefined) result.delta = deltaGranted;
  const afterReply = (): void => {
    // The Hub follows the reply with whatever arrived after `position`, in order.
    if (!ctx.hub.promote(channel, session, page?.position)) return; // unsubscribed or closed meanwhile
    session.setSubscription(channel, true);
    if (options.joinLeave) {
      ctx.engine.broker.publishJoin(channel, session.clientInfo).catch((err: unknown) => {
        ctx.logger.warn({ err, channel }, "join push failed");
      });
    }
  };
  return { result, afterReply };
};

/**
 * The `subscribe` command without the command: what a one-way stream runs for each of its
 * channels, so its subscriptions pass the same permission checks, limits and recovery as a
 * WebSocket client's. Rejects with the ReplyError the command would answer; the caller writes
 * the result, then calls `afterReply` in the same tick.
 */
export function subscribeChannel(
  session: Session,
  request: Methods["subscribe"]["request"],
  ctx: NodeContext,
): Promise<Output<Methods["subscribe"]["result"]>> {
  return subscribe(session, request, ctx);
}

const unsubscribe: Handler<"unsubscribe"> = (session, { channel }) => {
  session.release(channel);
  return Promise.resolve({ result: {} });
};

const publish: Handler<"publish"> = async (session, { channel, data, rawData, idempotencyKey }, ctx) => {
  const access = accessRequest(session, ctx, Operation.publish, channel);
  await authorize(access);
  const { options } = access;
  // The codec checked the data (shape, UTF-8 JSON, maxDataDepth), so it encodes and can be read
  // back from history. Data that arrived as JSON bytes (Protobuf) goes out as it came.
  const pub = { channel, data: rawData ?? encodeJsonData(data), info: session.clientInfo };
  const position = await ctx.publisher.publish("client", pub, options.history, idempotencyKey).catch((err: unknown) => {
    throw publishReplyError(err);
  });
  return { result: position === undefined ? {} : { position } };
};

/** 114 when the publish may have been made, 100 (temporary) when it was not. */
function publishReplyError(err: unknown): ReplyError {
  if (!(err instanceof PublishFailure) || err.kind === PublishFailureKind.failed) return internalError("publish");
  return new ReplyError(
    err.kind === PublishFailureKind.outcomeUnknown ? ErrorCode.outcomeUnknown : ErrorCode.internal,
    err.message,
  );
}

const presence: Handler<"presence"> = async (session, { channel }, ctx) => {
  await authorize(accessRequest(session, ctx, Operation.presence, channel));
  return { result: { clients: await backend(ctx, "presence", ctx.engine.presence.get(channel)) } };
};

const presenceStats: Handler<"presence_stats"> = async (session, { channel }, ctx) => {
  await authorize(accessRequest(session, ctx, Operation.presenceStats, channel));
  return { result: await backend(ctx, "presence stats", ctx.engine.presence.stats(channel)) };
};

const history: Handler<"history"> = async (session, request, ctx) => {
  const access = accessRequest(session, ctx, Operation.history, request.channel);
  await authorize(access);
  const { options } = access;
  const limit = Math.min(request.limit ?? options.history.size, options.history.size);
  const query = { since: request.since, limit, reverse: request.reverse };
  const page = await backend(ctx, "history", ctx.engine.history.read(request.channel, query, options.history));
  return { result: { publications: readablePublications(request.channel, page, ctx), position: page.position } };
};

const handlers: { [M in keyof Methods]: Handler<M> } = {
  connect,
  subscribe,
  unsubscribe,
  publish,
  presence,
  presence_stats: presenceStats,
  history,
  refresh,
};
