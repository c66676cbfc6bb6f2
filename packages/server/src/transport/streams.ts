import type { IncomingMessage, ServerResponse } from "node:http";
import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import { CloseCode, ErrorCode, encodeJsonData } from "@hubcast/protocol";
import { identify } from "../auth/access.js";
import type { Identity } from "../auth/access.js";
import { subscribeChannel, userLimitReached } from "../commands.js";
import type { NodeContext } from "../context.js";
import { ReplyError } from "../errors.js";
import { ApiErrorCode } from "../http/api-errors.js";
import { Session } from "../session.js";
import type { Admission } from "./admission.js";
import { HttpStreamTransport } from "./http-stream.js";
import {
  HttpRefusal,
  admissionRefusal,
  answerError,
  checkOrigin,
  corsHeaders,
  notAccepting,
  streamHeaders,
} from "./http-answers.js";
import { identityFramer, parseCursor, SseCursorFramer, streamCodecs } from "./stream-codecs.js";
import { TransportName } from "./transport.js";

/** The one-way stream endpoints and the transport each serves. */
export const STREAM_PATHS: ReadonlyMap<string, TransportName> = new Map([
  ["/sse", TransportName.sse],
  ["/stream", TransportName.ndjson],
]);

/** The cookie a same-site page may carry its token in (an `EventSource` cannot set headers). */
export const TOKEN_COOKIE = "hubcast_token";

/** The reconnect delay an SSE client is told (`retry:`), before jitter: 1 to 2 s. */
const RETRY_BASE_MS = 1_000;

/** What a stream request asks for, read from its URL and headers. */
interface StreamRequest {
  token: string | undefined;
  channels: string[];
  since: Map<string, StreamPosition>;
  /** `Last-Event-ID` of an SSE request: the resume point of the browser's own reconnect. */
  lastEventId: string | undefined;
}

/**
 * Serves `GET /sse` (Server-Sent Events) and `GET /stream` (NDJSON): one-way streams of the
 * channels a request names, or of those its token lists. Everything that can refuse a stream
 * (admission, authentication, every channel's permission, the limits) runs before the
 * response starts, so a refusal is a plain HTTP error in the API's shape. The stream is then a
 * {@link Session} on an {@link HttpStreamTransport}, subscribed through the same code path as
 * the `subscribe` command, recovery included (`since`, or `Last-Event-ID` for SSE).
 */
export class StreamEndpoints {
  constructor(
    private readonly ctx: NodeContext,
    private readonly sessions: Set<Session>,
    private readonly accepting: () => boolean,
    private readonly admission: Admission,
  ) {}

  /** Serves a request for one of {@link STREAM_PATHS}; never throws (failures end this request only). */
  handle(req: IncomingMessage, res: ServerResponse, name: TransportName): void {
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      answerError(res, ApiErrorCode.methodNotAllowed, `${req.method} is not allowed here; use GET`);
      return;
    }
    this.open(req, res, name).catch((err: unknown) => {
      if (err instanceof HttpRefusal) {
        if (err.retryAfterMs !== undefined) res.setHeader("Retry-After", Math.ceil(err.retryAfterMs / 1000));
        answerError(res, err.code, err.message);
        return;
      }
      this.ctx.metrics.unexpectedError("connection");
      this.ctx.logger.error({ err }, "unexpected error while opening a stream; answered 500");
      answerError(res, ApiErrorCode.internal, "internal error; see the node's log");
    });
  }

  private async open(req: IncomingMessage, res: ServerResponse, name: TransportName): Promise<void> {
    const { ctx } = this;
    const origin = req.headers.origin;
    checkOrigin(ctx.auth.origins, origin);
    if (!this.accepting()) throw notAccepting();
    const request = readRequest(req, name);
    const remoteAddress = req.socket.remoteAddress;
    const refusal = this.admission.check(remoteAddress);
    if (refusal !== undefined) throw admissionRefusal(refusal);
    const identity = await this.identify(request.token, remoteAddress);
    const channels = request.channels.length > 0 ? request.channels : listedChannels(identity);
    resumeFrom(request.lastEventId, channels, request.since);
    checkChannels(channels, request.since, ctx.options.maxStreamChannels);
    const limit = userLimitReached(ctx, identity.user);
    if (limit !== undefined) throw new HttpRefusal(ApiErrorCode.tooManyConnections, limit);

    const codec =
      name === TransportName.ndjson
        ? streamCodecs.ndjson
        : channels.length === 1
          ? streamCodecs.sseOne
          : streamCodecs.sseMany;
    // Only a multi-channel SSE stream frames for itself: its ids carry every channel's position.
    const framer = codec === streamCodecs.sseMany ? new SseCursorFramer(channels) : identityFramer;
    const transport = new HttpStreamTransport(name, res, framer);
    const session = new Session(transport, codec, ctx, remoteAddress, this.sessions);
    session.connected(identity, Date.now());
    const subscribed = await this.subscribeAll(session, channels, request.since).catch((err: unknown) => {
      session.onClosed(CloseCode.normal); // releases what was subscribed, leaves the registry
      throw err;
    });
    if (!session.isOpen) {
      session.onClosed(CloseCode.shutdown);
      throw notAccepting();
    }
    ctx.metrics.accepted(name);
    ctx.logger.debug({ client: session.id, remoteAddress, transport: name, channels }, "stream opened");
    // The origin passed allowedOrigins above: a page there may read the stream, with its cookie.
    const headers = streamHeaders(name === TransportName.sse, corsHeaders(origin, true));
    transport.start(session, headers, codec.prelude(RETRY_BASE_MS * (1 + Math.random())));
    for (const { channel, result, afterReply } of subscribed) {
      session.sendEncoded(codec.encodeSubscribed(subscribedEvent(channel, result)));
      for (const pub of result.publications ?? []) {
        const raw: RawPublication = { channel, data: encodeJsonData(pub.data) };
        if (pub.offset !== undefined) raw.offset = pub.offset;
        // Recovered publications are of the position's epoch; their ids carry it.
        if (result.position !== undefined) raw.epoch = result.position.epoch;
        if (pub.info !== undefined) raw.info = pub.info;
        session.sendEncoded(codec.encodePublication(raw));
      }
      afterReply?.();
    }
  }

  /** Who the token says the client is, as `connect` decides it; refusals are 401. */
  private async identify(token: string | undefined, remoteAddress: string | undefined): Promise<Identity> {
    try {
      return await identify(this.ctx.auth, { token, name: undefined, remoteAddress }).catch((err: unknown) =>
        this.ctx.metrics.connectRefused(err, token),
      );
    } catch (err) {
      if (err instanceof ReplyError) throw new HttpRefusal(ApiErrorCode.unauthorized, err.message);
      throw err;
    }
  }

  /** Subscribes every channel, in order, as the `subscribe` command does; the first refusal refuses the stream. */
  private async subscribeAll(
    session: Session,
    channels: readonly string[],
    since: ReadonlyMap<string, StreamPosition>,
  ): Promise<Subscribed[]> {
    const out: Subscribed[] = [];
    for (const channel of channels) {
      try {
        const { result, afterReply } = await subscribeChannel(
          session,
          { channel, since: since.get(channel) },
          this.ctx,
        );
        out.push({ channel, result, afterReply });
      } catch (err) {
        if (err instanceof ReplyError) throw refusalFor(channel, err);
        throw err;
      }
    }
    return out;
  }
}

type Subscribed = {
  channel: string;
  result: Awaited<ReturnType<typeof subscribeChannel>>["result"];
  afterReply: (() => void) | undefined;
};

function subscribedEvent(channel: string, result: Subscribed["result"]) {
  return {
    channel,
    recoverable: result.recoverable,
    ...(result.position === undefined ? {} : { position: result.position }),
    ...(result.recovered === undefined ? {} : { recovered: result.recovered }),
  };
}

/** A subscribe's refusal as the stream's HTTP answer. */
function refusalFor(channel: string, err: ReplyError): HttpRefusal {
  const message = `channel "${channel}": ${err.message}`;
  switch (err.code) {
    // The token itself passed already: a subscribe refused for who the client is (101, as a
    // WebSocket client is told) or for what it may do (103) is a 403 here.
    case ErrorCode.unauthorized:
    case ErrorCode.permissionDenied:
      return new HttpRefusal(ApiErrorCode.forbidden, message);
    case ErrorCode.internal:
      return new HttpRefusal(ApiErrorCode.unavailable, message, 1_000);
    default:
      return new HttpRefusal(ApiErrorCode.badRequest, message);
  }
}

/** The channels a token lists exactly; prefixes (`news:*`) name no channel to subscribe to. */
function listedChannels(identity: Identity): string[] {
  return identity.channels.filter((entry) => !entry.endsWith("*"));
}

function checkChannels(channels: readonly string[], since: ReadonlyMap<string, StreamPosition>, max: number): void {
  if (channels.length === 0)
    throw new HttpRefusal(
      ApiErrorCode.badRequest,
      "name at least one channel (?channel=…), or use a token that lists channels",
    );
  if (channels.length > max)
    throw new HttpRefusal(
      ApiErrorCode.badRequest,
      `a stream may carry ${max} channels (maxStreamChannels); this one asks for ${channels.length}`,
    );
  for (const channel of since.keys()) {
    if (!channels.includes(channel))
      throw new HttpRefusal(
        ApiErrorCode.badRequest,
        `since names channel "${channel}", which this stream does not carry`,
      );
  }
}

/** Reads the token, channels and resume positions of a stream request; a malformed one is a 400. */
function readRequest(req: IncomingMessage, name: TransportName): StreamRequest {
  const url = new URL(req.url ?? "/", "http://stream");
  const channels = [...new Set(url.searchParams.getAll("channel"))];
  if (channels.some((channel) => channel === ""))
    throw new HttpRefusal(ApiErrorCode.badRequest, "a channel parameter is empty");
  const since = new Map<string, StreamPosition>();
  for (const value of url.searchParams.getAll("since")) {
    const parsed = parseSince(value);
    if (parsed === undefined)
      throw new HttpRefusal(
        ApiErrorCode.badRequest,
        `since must be <channel>:<epoch>:<offset>, got ${JSON.stringify(value.slice(0, 200))}`,
      );
    since.set(parsed.channel, parsed.position);
  }
  const header = req.headers["last-event-id"];
  const lastEventId = name === TransportName.sse && typeof header === "string" && header !== "" ? header : undefined;
  return { token: tokenOf(req, url), channels, since, lastEventId };
}

/**
 * The browser's own resume: an SSE stream's last event id is the position of its one channel,
 * or of each of its channels (a cursor). Positions named by `since` win; an id that does not
 * fit these channels (the request changed) resumes nothing.
 */
function resumeFrom(
  lastEventId: string | undefined,
  channels: readonly string[],
  since: Map<string, StreamPosition>,
): void {
  if (lastEventId === undefined) return;
  const resumed =
    channels.length === 1
      ? new Map(Object.entries({ [channels[0] as string]: parsePosition(lastEventId) }))
      : parseCursor(lastEventId, channels, parsePosition);
  for (const [channel, position] of resumed ?? []) {
    if (position !== undefined && !since.has(channel)) since.set(channel, position);
  }
}

/** `<epoch>:<offset>`; epochs hold no `:`. */
function parsePosition(text: string): StreamPosition | undefined {
  const cut = text.lastIndexOf(":");
  if (cut <= 0) return undefined;
  const digits = text.slice(cut + 1);
  if (!/^\d{1,15}$/.test(digits)) return undefined;
  return { epoch: text.slice(0, cut), offset: Number(digits) };
}

/** `<channel>:<epoch>:<offset>`: read from the right, since channel names may hold `:`. */
function parseSince(text: string): { channel: string; position: StreamPosition } | undefined {
  const position = parsePosition(text);
  if (position === undefined) return undefined;
  const cut = position.epoch.lastIndexOf(":");
  if (cut <= 0 || cut === position.epoch.length - 1) return undefined;
  return {
    channel: position.epoch.slice(0, cut),
    position: { epoch: position.epoch.slice(cut + 1), offset: position.offset },
  };
}

/** The token from `?token=`, `Authorization: Bearer`, or the {@link TOKEN_COOKIE} cookie, in that order. */
function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const query = url.searchParams.get("token");
  if (query !== null && query !== "") return query;
  const auth = req.headers.authorization;
  if (auth !== undefined && /^bearer /i.test(auth)) return auth.slice(7).trim();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === TOKEN_COOKIE) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}
