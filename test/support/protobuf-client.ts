import { ProtobufCodec, Subprotocol } from "@hubcast/protocol";
import { opened } from "./pipe.js";
import type { Command, ErrorBody, Method, Methods, Pushes, PushType, Reply, ServerFrame } from "@hubcast/protocol";
import { WebSocket } from "ws";
import { FrameInbox, closeSocket, whenClosed } from "./frame-inbox.js";

const codec = new ProtobufCodec();

/**
 * A protocol-level test client for `hubcast.v1.protobuf`: commands in, decoded frames out, no
 * SDK logic. It answers pings unless told to stay silent, and lets tests await replies and
 * pushes. Frames it cannot decode are kept as errors in `undecodable`.
 */
export class ProtobufClient {
  private readonly inbox = new FrameInbox<ServerFrame>();
  /** Every decoded frame received, in order. */
  readonly frames: ServerFrame[] = this.inbox.frames;
  readonly undecodable: Error[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  answerPings = true;
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    this.closed = whenClosed(ws);
    ws.on("message", (data, isBinary) => {
      let frame: ServerFrame;
      try {
        if (!isBinary) throw new Error(`text frame on a Protobuf connection: ${String(data)}`);
        frame = codec.decodeServerFrame(new Uint8Array(data as Buffer));
      } catch (err) {
        this.undecodable.push(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (frame.kind === "push" && frame.push.type === "ping" && this.answerPings) ws.send(codec.encodePong());
      this.inbox.add(frame);
    });
  }

  /** Opens a socket to `wsUrl` offering `protocols`; does not send `connect`. */
  static async open(wsUrl: string, protocols: string | string[] = Subprotocol.protobuf): Promise<ProtobufClient> {
    const ws = new WebSocket(wsUrl, protocols, { perMessageDeflate: false });
    const client = new ProtobufClient(ws); // listening before the open: the server may push at once
    await opened(ws, wsUrl);
    return client;
  }

  /** Opens and sends `connect`. */
  static async connected(wsUrl: string): Promise<ProtobufClient> {
    const client = await ProtobufClient.open(wsUrl);
    await client.ok("connect", {});
    return client;
  }

  /** Sends raw bytes (or text) as they are. */
  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Waits for the first frame, already received or future, that `match` accepts. */
  waitFor(
    match: (frame: ServerFrame) => boolean,
    what: string,
    timeoutMs = 5_000,
    fromIndex = 0,
  ): Promise<ServerFrame> {
    return this.inbox.waitFor(match, what, timeoutMs, fromIndex);
  }

  /** Sends a command and resolves with its reply. */
  async command<M extends Method>(method: M, request: Methods[M]["request"]): Promise<Reply> {
    const id = this.nextId++;
    this.ws.send(codec.encodeCommand({ id, method, request } as Command));
    const frame = await this.waitFor(
      (f) => f.kind === "reply" && f.reply.id === id,
      `reply to ${method} #${id}`,
      5_000,
      this.frames.length,
    );
    return (frame as Extract<ServerFrame, { kind: "reply" }>).reply;
  }

  /** Sends a command that must succeed; resolves with its result. */
  async ok<M extends Method>(method: M, request: Methods[M]["request"]): Promise<Methods[M]["result"]> {
    const reply = await this.command(method, request);
    if ("error" in reply) throw new Error(`${method} failed: ${JSON.stringify(reply.error)}`);
    return reply.result as Methods[M]["result"];
  }

  /** Sends a command that must fail; resolves with its error body. */
  async fails<M extends Method>(method: M, request: Methods[M]["request"]): Promise<ErrorBody> {
    const reply = await this.command(method, request);
    if (!("error" in reply)) throw new Error(`${method} unexpectedly succeeded: ${JSON.stringify(reply)}`);
    return reply.error;
  }

  /** Push bodies of one type received so far, optionally for one channel. */
  pushes<P extends PushType>(type: P, channel?: string): Pushes[P][] {
    const bodies: Pushes[P][] = [];
    for (const frame of this.frames) {
      if (frame.kind !== "push" || frame.push.type !== type) continue;
      const body = frame.push.body as Pushes[P];
      if (channel === undefined || ("channel" in body && body.channel === channel)) bodies.push(body);
    }
    return bodies;
  }

  /** Waits until `count` pushes of `type` (for `channel`) have arrived. */
  async waitForPushes<P extends PushType>(type: P, count: number, channel?: string): Promise<Pushes[P][]> {
    await this.waitFor(() => this.pushes(type, channel).length >= count, `${count} ${type} pushes`);
    return this.pushes(type, channel);
  }

  /** Closes (dropping the socket if the close handshake does not finish within 2 s). */
  close(): Promise<{ code: number; reason: string }> {
    return closeSocket(this.ws, this.closed);
  }
}
