import type { Command, Methods, Publication, RawPublication } from "@hubcast/protocol";
import { ErrorCode, PROTOCOL_VERSION, decodeJsonData, encodeJsonData } from "@hubcast/protocol";
import type { ResolvedChannelOptions } from "./channels.js";
import type { NodeContext } from "./context.js";
import { ReplyError, internalError } from "./errors.js";
import type { HistoryPage } from "./history/history.js";
import { recoverSince } from "./recovery.js";
import type { Session } from "./session.js";

/** A handler's outcome: the reply's result, and work that must follow the reply in the same tick. */
interface Output<R> {
  result: R;
  afterReply?: () => void;
}

type Handler<M extends keyof Methods> = (
  session: Session,
  request: Methods[M]["request"],
  ctx: NodeContext,
) => Promise<Output<Methods[M]["result"]>>;

/** Runs one command and sends exactly one reply (unless the connection closed meanwhile). */
export function handleCommand(session: Session, command: Command, ctx: NodeContext): void {
  const handler = handlers[command.method] as Handler<typeof command.method>;
  handler(session, command.request as never, ctx).then(
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
      ctx.logger.error({ err, client: session.id, method: command.method }, "command failed");
      session.sendError(command.id, internalError(command.method).toBody());
    },
  );
}

function channelOptions(ctx: NodeContext, channel: string): ResolvedChannelOptions {
  const lookup = ctx.rules.lookup(channel);
  if (!lookup.ok) throw new ReplyError(ErrorCode.unknownChannel, lookup.reason);
  return lookup.options;
}

function requireSubscribed(session: Session, channel: string, what: string): void {
  if (session.subscriptions.get(channel) !== true) {
    throw new ReplyError(ErrorCode.permissionDenied, `subscribe to "${channel}" before reading its ${what}`);
  }
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

function toPublication(raw: RawPublication): Publication {
  const pub: Publication = { data: decodeJsonData(raw.data) as Publication["data"] };
  if (raw.offset !== undefined) pub.offset = raw.offset;
  if (raw.info !== undefined) pub.info = raw.info;
  return pub;
}

const connect: Handler<"connect"> = async (session, request, ctx) => {
  if (session.state !== "connecting") throw new ReplyError(ErrorCode.alreadyConnected, "already connected");
  session.state = "authenticating";
  let reply: Awaited<ReturnType<NonNullable<NodeContext["authenticate"]>>> = { user: "" };
  try {
    if (ctx.authenticate !== undefined) {
      reply = await ctx.authenticate({ token: request.token, name: request.name, remoteAddress: session.remoteAddress });
    }
  } finally {
    if (session.state === "authenticating") session.state = "connecting";
  }
  if (reply === null) throw new ReplyError(ErrorCode.unauthorized, "credentials refused");
  if (!session.isOpen) return { result: undefined as never };
  session.state = "connected";
  session.user = reply.user;
  session.userInfo = reply.info;
  session.nextPingAt = Date.now() + ctx.options.pingIntervalMs;
  ctx.logger.debug({ client: session.id, user: session.user, name: request.name }, "client connected");
  const { pingIntervalMs, maxMessageBytes } = ctx.options;
  return { result: { client: session.id, version: PROTOCOL_VERSION, pingIntervalMs, maxMessageBytes } };
};

const subscribe: Handler<"subscribe"> = async (session, { channel, since }, ctx) => {
  const options = channelOptions(ctx, channel);
  if (options.subscribe !== "anyone" && session.user === "") {
    throw new ReplyError(ErrorCode.unauthorized, `anonymous connections may not subscribe to "${channel}"`);
  }
  if (session.subscriptions.has(channel)) throw new ReplyError(ErrorCode.alreadySubscribed, `already subscribed to "${channel}"`);
  session.subscriptions.set(channel, false);
  let page: HistoryPage | undefined;
  try {
    // Broker first, then history: whatever is published after the read is buffered by the Hub.
    await backend(ctx, "subscribe", ctx.hub.addPending(channel, session));
    if (options.history.size > 0) {
      const query = { since, limit: since === undefined ? 0 : options.history.size };
      page = await backend(ctx, "history read", ctx.engine.history.read(channel, query, options.history));
    }
    if (options.presence) await backend(ctx, "presence add", ctx.engine.presence.add(channel, session.clientInfo));
    if (options.presence && session.subscriptions.get(channel) !== false) {
      // Unsubscribed or closed while we awaited: undo the entry release() removed too early.
      // The reply still goes out; afterReply sees the cancellation and sends nothing more.
      await backend(ctx, "presence remove", ctx.engine.presence.remove(channel, session.id));
    }
  } catch (err) {
    if (session.subscriptions.get(channel) === false) session.release(channel);
    throw err;
  }
  const recovered = since !== undefined && page !== undefined ? recoverSince(since, page) : undefined;
  const result: Methods["subscribe"]["result"] = { recoverable: page !== undefined };
  if (page !== undefined) result.position = page.position;
  if (since !== undefined) {
    result.recovered = recovered !== undefined;
    result.publications = (recovered ?? []).map(toPublication);
  }
  const afterReply = (): void => {
    // The Hub follows the reply with whatever arrived after `position`, in order.
    if (!ctx.hub.promote(channel, session, page?.position)) return; // unsubscribed or closed meanwhile
    session.subscriptions.set(channel, true);
    if (options.joinLeave) {
      ctx.engine.broker.publishJoin(channel, session.clientInfo).catch((err: unknown) => {
        ctx.logger.warn({ err, channel }, "join push failed");
      });
    }
  };
  return { result, afterReply };
};

const unsubscribe: Handler<"unsubscribe"> = (session, { channel }) => {
  session.release(channel);
  return Promise.resolve({ result: {} });
};

const publish: Handler<"publish"> = async (session, { channel, data }, ctx) => {
  const options = channelOptions(ctx, channel);
  if (!options.allowPublish) throw new ReplyError(ErrorCode.permissionDenied, `clients may not publish to "${channel}"`);
  const pub = { channel, data: encodeJsonData(data), info: session.clientInfo };
  const position = await backend(ctx, "publish", ctx.engine.broker.publish(pub, options.history));
  return { result: position === undefined ? {} : { position } };
};

const presence: Handler<"presence"> = async (session, { channel }, ctx) => {
  presenceOptions(session, channel, ctx);
  return { result: { clients: await backend(ctx, "presence", ctx.engine.presence.get(channel)) } };
};

const presenceStats: Handler<"presence_stats"> = async (session, { channel }, ctx) => {
  presenceOptions(session, channel, ctx);
  return { result: await backend(ctx, "presence stats", ctx.engine.presence.stats(channel)) };
};

function presenceOptions(session: Session, channel: string, ctx: NodeContext): void {
  const options = channelOptions(ctx, channel);
  if (!options.presence) throw new ReplyError(ErrorCode.notAvailable, `presence is off for "${channel}"`);
  if (!options.allowPresence) throw new ReplyError(ErrorCode.permissionDenied, `clients may not read presence of "${channel}"`);
  requireSubscribed(session, channel, "presence");
}

const history: Handler<"history"> = async (session, request, ctx) => {
  const options = channelOptions(ctx, request.channel);
  if (options.history.size === 0) throw new ReplyError(ErrorCode.notAvailable, `history is off for "${request.channel}"`);
  if (!options.allowHistory) throw new ReplyError(ErrorCode.permissionDenied, `clients may not read history of "${request.channel}"`);
  requireSubscribed(session, request.channel, "history");
  const limit = Math.min(request.limit ?? options.history.size, options.history.size);
  const query = { since: request.since, limit, reverse: request.reverse };
  const page = await backend(ctx, "history", ctx.engine.history.read(request.channel, query, options.history));
  return { result: { publications: page.publications.map(toPublication), position: page.position } };
};

const handlers: { [M in keyof Methods]: Handler<M> } = {
  connect,
  subscribe,
  unsubscribe,
  publish,
  presence,
  presence_stats: presenceStats,
  history,
};
