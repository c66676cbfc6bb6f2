import { WebSocket } from "ws";
import { opened } from "./pipe.js";
import type { ClientOptions } from "ws";

import { FrameInbox, closeSocket, whenClosed } from "./frame-inbox.js";

export { withTimeout } from "./frame-inbox.js";

type Frame = Record<string, unknown>;
/** A member as `members` pushes list it. */
export interface MemberInfo {
  client: string;
  user: string;
  info?: unknown;
}

/**
 * A protocol-level test client: raw frames in, parsed frames out, no SDK logic. It answers
 * pings unless told to stay silent, and lets tests await replies and pushes by shape.
 */
export class RawClient {
  private readonly inbox = new FrameInbox<Frame>();
  /** Every parsed frame received, in order. */
  readonly frames: Frame[] = this.inbox.frames;
  readonly closed: Promise<{ code: number; reason: string }>;
  answerPings = true;
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    this.closed = whenClosed(ws);
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame["ping"] !== undefined && this.answerPings) ws.send('{"pong":{}}');
      this.inbox.add(frame);
    });
  }

  /** Opens a socket to `wsUrl` offering `protocols`; does not send `connect`. `options` go to `ws` (it offers permessage-deflate unless told `perMessageDeflate: false`). */
  static async open(
    wsUrl: string,
    protocols: string | string[] = "hubcast.v1.json",
    options: ClientOptions = {},
  ): Promise<RawClient> {
    const ws = new WebSocket(wsUrl, protocols, options);
    // Listen before the socket opens: a server may push in the same packet as the handshake.
    const client = new RawClient(ws);
    await opened(ws, wsUrl);
    return client;
  }

  /** Opens and sends `connect`, resolving with the connect result. */
  static async connected(wsUrl: string): Promise<RawClient> {
    const client = await RawClient.open(wsUrl);
    await client.ok("connect", {});
    return client;
  }

  /** Sends a raw frame (object → JSON, string as is). */
  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Waits for the first frame, already received or future, that `match` accepts. */
  waitFor(match: (frame: Frame) => boolean, what: string, timeoutMs = 5_000, fromIndex = 0): Promise<Frame> {
    return this.inbox.waitFor(match, what, timeoutMs, fromIndex);
  }

  /** Sends a command and resolves with its whole reply frame. */
  async command(method: string, request: unknown, timeoutMs = 5_000): Promise<Frame> {
    const id = this.nextId++;
    this.send({ id, [method]: request });
    return this.waitFor((f) => f["id"] === id, `reply to ${method} #${id}`, timeoutMs, this.frames.length);
  }

  /** Sends a command that must succeed; resolves with its result. */
  async ok<T = Record<string, unknown>>(method: string, request: unknown): Promise<T> {
    const reply = await this.command(method, request);
    if (reply["error"] !== undefined) throw new Error(`${method} failed: ${JSON.stringify(reply["error"])}`);
    return reply[method] as T;
  }

  /** Sends a command that must fail; resolves with its error body. */
  async fails(method: string, request: unknown): Promise<{ code: number; message: string; temporary: boolean }> {
    const reply = await this.command(method, request);
    if (reply["error"] === undefined) throw new Error(`${method} unexpectedly succeeded: ${JSON.stringify(reply)}`);
    return reply["error"] as { code: number; message: string; temporary: boolean };
  }

  /** Pushes of one type received so far, optionally for one channel. */
  pushes<T = Record<string, unknown>>(type: string, channel?: string): T[] {
    return this.frames
      .filter((f) => f["id"] === undefined && f[type] !== undefined)
      .map((f) => f[type] as T & { channel?: string })
      .filter((body) => channel === undefined || body.channel === channel);
  }

  /** Waits until `count` pushes of `type` (for `channel`) have arrived. */
  async waitForPushes<T = Record<string, unknown>>(
    type: string,
    count: number,
    channel?: string,
    timeoutMs = 5_000,
  ): Promise<T[]> {
    await this.waitFor(() => this.pushes(type, channel).length >= count, `${count} ${type} pushes`, timeoutMs);
    return this.pushes<T>(type, channel);
  }

  /**
   * The joins or leaves listed so far in `members` pushes (for `channel`), in order, as
   * `{channel, info}` like the SDK's events; a push's leaves come before its joins.
   */
  members(type: "join" | "leave", channel?: string): { channel: string; info: MemberInfo }[] {
    const key = type === "join" ? "joins" : "leaves";
    return this.pushes<{ channel: string; joins: MemberInfo[]; leaves: MemberInfo[] }>("members", channel).flatMap(
      (push) => push[key].map((info) => ({ channel: push.channel, info })),
    );
  }

  /** Waits until `members` pushes (for `channel`) have listed `count` joins or leaves. */
  async waitForMembers(
    type: "join" | "leave",
    count: number,
    channel?: string,
    timeoutMs = 5_000,
  ): Promise<{ channel: string; info: MemberInfo }[]> {
    await this.waitFor(() => this.members(type, channel).length >= count, `${count} listed ${type}s`, timeoutMs);
    return this.members(type, channel);
  }

  /** Closes (dropping the socket if the close handshake does not finish within 2 s). */
  close(): Promise<{ code: number; reason: string }> {
    return closeSocket(this.ws, this.closed);
  }
}
