import { randomBytes } from "node:crypto";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { NodeContext } from "../context.js";
import { ApiErrorCode } from "../http/api-errors.js";
import { readBody } from "../http/body.js";
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
import type { Framer } from "./transport.js";
import { TransportName } from "./transport.js";
import { JSON_CODEC } from "./wire-codecs.js";

/** Where a browser whose network refuses WebSockets opens its emulated connection. */
export const EMULATION_PATH = "/emulation";
/** Where it POSTs its frames, on any node. */
export const EMULATION_SEND_PATH = "/emulation/send";

/** Frames one POST may carry: a client batches what it sends within one turn, rarely more than a few. */
export const MAX_FRAMES_PER_POST = 64;

/** Frames of the JSON protocol, one per line: `JSON.stringify` escapes every line break inside a frame. */
const ndjsonFramer: Framer = {
  frame: (payload) => Buffer.concat([payload, NEWLINE]),
};
const NEWLINE = Buffer.from("\n");

/** Frames of the JSON protocol as SSE events: one `data:` line each (a frame holds no raw line break). */
const sseFramer: Framer = {
  frame: (payload) => Buffer.concat([SSE_DATA, payload, SSE_END]),
};
const SSE_DATA = Buffer.from("data: ");
const SSE_END = Buffer.from("\n\n");

/** What the endpoints need of the node beyond its context. */
export interface EmulationDeps {
  readonly nodeId: string;
  readonly sessions: Set<Session>;
  /** False while the node drains or cannot serve: new connections are refused with 503. */
  readonly accepting: () => boolean;
  readonly admission: Admission;
  /** Sends frames for a connection another node serves (the control plane's `deliver`). */
  readonly forward: (node: string, stream: string, frames: readonly string[]) => Promise<void>;
}

/**
 * Two-way connections for networks that break WebSockets: the protocol's JSON frames go down
 * a streamed response (`POST /emulation`: NDJSON, read with `fetch`; `GET /emulation?connect=…`:
 * Server-Sent Events), and the client's frames come up by `POST /emulation/send` to ANY node.
 * The stream is a {@link Session} like a WebSocket client's (the same commands, replies,
 * pings, limits, budget and drain); only the carrier differs. Its first line names the
 * connection: `{"emulation":{"stream":"<node id>.<secret>"}}`. The secret is 24 random bytes
 * that only this client sees (not the client id, which presence shows to others), so holding
 * it is the right to send on the connection. A POST that lands on another node is forwarded
 * through the engine's control channel to the node the id names; no sticky sessions needed.
 */
export class EmulationEndpoints {
  private readonly streams = new Map<string, HttpStreamTransport>();

  constructor(
    private readonly ctx: NodeContext,
    private readonly deps: EmulationDeps,
  ) {}

  /** Serves {@link EMULATION_PATH} and {@link EMULATION_SEND_PATH}; never throws (a failure ends this request only). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): void {
    const origin = req.headers.origin;
    const work =
      req.method === "OPTIONS"
        ? this.preflight(res, origin)
        : path === EMULATION_SEND_PATH
          ? this.send(req, res)
          : this.open(req, res);
    work.catch((err: unknown) => {
      if (err instanceof HttpRefusal) {
        if (err.retryAfterMs !== undefined) res.setHeader("Retry-After", Math.ceil(err.retryAfterMs / 1000));
        answerError(res, err.code, err.message, this.cors(origin));
        return;
      }
      this.ctx.metrics.unexpectedError("connection");
      this.ctx.logger.error({ err }, "unexpected error in an emulated connection's request; answered 500");
      answerError(res, ApiErrorCode.internal, "internal error; see the node's log", {});
    });
  }

  /**
   * Frames that reached this node through the control channel for one of its streams; false
   * when it no longer has that stream (the client's commands then time out, and it reconnects).
   */
  deliver(stream: string, frames: readonly string[]): boolean {
    const transport = this.streams.get(stream);
    if (transport === undefined) return false;
    for (const frame of frames) transport.receive(Buffer.from(frame));
    return true;
  }

  /** The CORS headers for a page on `origin`, when the node allows it. */
  private cors(origin: string | undefined): OutgoingHttpHeaders {
    return corsHeaders(origin, this.ctx.auth.origins.allows(origin));
  }

  /** CORS preflight for pages on allowed origins that POST with `Content-Type: application/json`. */
  private async preflight(res: ServerResponse, origin: string | undefined): Promise<void> {
    // A preflight comes from a page: without an Origin there is nothing to allow.
    if (origin === undefined) throw new HttpRefusal(ApiErrorCode.forbidden, "a preflight needs an Origin header");
    checkOrigin(this.ctx.auth.origins, origin);
    res.writeHead(204, {
      ...this.cors(origin),
      "Access-Control-Allow-Methods": "GET, POST",
      "Access-Control-Allow-Headers": "Content-Type",
      "Access-Control-Max-Age": "600",
    });
    res.end();
  }

  private async open(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { ctx } = this;
    const origin = req.headers.origin;
    checkOrigin(ctx.auth.origins, origin);
    if (req.method !== "POST" && req.method !== "GET") {
      res.setHeader("Allow", "GET, POST");
      throw new HttpRefusal(ApiErrorCode.methodNotAllowed, `${req.method} is not allowed here; use POST or GET`);
    }
    if (!this.deps.accepting()) throw notAccepting();
    const sse = req.method === "GET";
    // The first frame (connect) comes with the request: in the body, or for an EventSource,
    // which can only GET, in the `connect` query parameter.
    const connect = sse
      ? new URL(req.url ?? "/", "http://emulation").searchParams.get("connect")
      : await readText(req, ctx.options.maxMessageBytes);
    if (connect === null || connect.trim() === "")
      throw new HttpRefusal(ApiErrorCode.badRequest, "send the connect frame as the body (or ?connect= with GET)");
    const remoteAddress = req.socket.remoteAddress;
    const refusal = this.deps.admission.check(remoteAddress);
    if (refusal !== undefined) throw admissionRefusal(refusal);

    const name = sse ? TransportName.ssePost : TransportName.httpStream;
    const transport = new HttpStreamTransport(name, res, sse ? sseFramer : ndjsonFramer);
    const session = new Session(transport, JSON_CODEC, ctx, remoteAddress, this.deps.sessions);
    const stream = `${this.deps.nodeId}.${randomBytes(24).toString("base64url")}`;
    this.streams.set(stream, transport);
    res.once("close", () => this.streams.delete(stream));
    ctx.metrics.accepted(name);
    ctx.logger.debug({ client: session.id, remoteAddress, transport: name }, "emulated connection opened");
    const hello = JSON.stringify({ emulation: { stream } });
    transport.start(
      session,
      streamHeaders(sse, this.cors(origin)),
      Buffer.from(sse ? `data: ${hello}\n\n` : `${hello}\n`),
    );
    transport.receive(Buffer.from(connect));
  }

  private async send(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      throw new HttpRefusal(ApiErrorCode.methodNotAllowed, `${req.method} is not allowed here; use POST`);
    }
    const origin = req.headers.origin;
    checkOrigin(this.ctx.auth.origins, origin);
    const maxBytes = this.ctx.options.maxMessageBytes * MAX_FRAMES_PER_POST;
    const { stream, frames } = parseSend(await readText(req, maxBytes), this.ctx.options.maxMessageBytes);
    const node = stream.slice(0, stream.indexOf("."));
    if (node === this.deps.nodeId) {
      if (!this.deliver(stream, frames))
        throw new HttpRefusal(ApiErrorCode.notFound, "no such connection on this node; it has closed, reconnect");
      res.writeHead(204, this.cors(origin));
      res.end();
      return;
    }
    try {
      await this.deps.forward(node, stream, frames);
    } catch {
      throw new HttpRefusal(ApiErrorCode.unavailable, "could not reach the node of this connection", 1_000);
    }
    // Accepted for the node the id names; its replies come down the stream.
    res.writeHead(202, this.cors(origin));
    res.end();
  }
}

/** A send's body: `{"stream": "<id>", "frames": [<frame>, …]}`, each frame a protocol frame object. */
function parseSend(body: string, maxFrameBytes: number): { stream: string; frames: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpRefusal(ApiErrorCode.badRequest, 'the body is not JSON; send {"stream": "…", "frames": […]}');
  }
  const { stream, frames } = (parsed ?? {}) as { stream?: unknown; frames?: unknown };
  if (typeof stream !== "string" || !/^[\w-]+\.[\w-]{32}$/.test(stream))
    throw new HttpRefusal(ApiErrorCode.badRequest, "stream must be the id from the stream's first line");
  if (!Array.isArray(frames) || frames.length === 0 || frames.length > MAX_FRAMES_PER_POST)
    throw new HttpRefusal(ApiErrorCode.badRequest, `frames must be an array of 1 to ${MAX_FRAMES_PER_POST} frames`);
  const encoded = frames.map((frame) => JSON.stringify(frame));
  if (encoded.some((frame) => Buffer.byteLength(frame) > maxFrameBytes))
    throw new HttpRefusal(ApiErrorCode.payloadTooLarge, `a frame is larger than maxMessageBytes (${maxFrameBytes})`);
  return { stream, frames: encoded };
}

/** The body as text, refusing more than `maxBytes` (413) without holding it. */
async function readText(req: IncomingMessage, maxBytes: number): Promise<string> {
  const body = await readBody(req, maxBytes, {
    tooLarge: () => new HttpRefusal(ApiErrorCode.payloadTooLarge, `the body is larger than ${maxBytes} bytes`),
    cutOff: () => new HttpRefusal(ApiErrorCode.badRequest, "the request body was cut off"),
  });
  return body.toString("utf8");
}
