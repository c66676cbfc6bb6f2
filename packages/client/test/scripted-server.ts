/**
 * A scripted WebSocket peer that speaks the Hubcast v1 JSON wire format, for SDK tests.
 * Not a Hubcast server: every reply and push is chosen by the test.
 */
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import type { WebSocket } from "ws";
import type { ConnectResult, ErrorBody, Method, Methods, PushType, Pushes } from "@hubcast/protocol";
import type { Emitter, EmitterEvents } from "../src/emitter.js";

/** A decoded frame from the client. */
export type Frame = Record<string, unknown>;

/** A command as the peer received it. */
export interface ReceivedCommand<M extends Method> {
  id: number;
  request: Methods[M]["request"];
}

const DEFAULT_WAIT_MS = 3000;

/** Rejects with a message naming `what` if `promise` does not settle within `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The next `name` event for which `where` holds, or a rejection after `timeoutMs`. */
export function nextEvent<Events extends EmitterEvents, K extends keyof Events>(
  emitter: Emitter<Events>,
  name: K,
  where: (event: Events[K]) => boolean = () => true,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<Events[K]> {
  let off = (): void => {};
  const event = new Promise<Events[K]>((resolve) => {
    off = emitter.on(name, (e) => {
      if (where(e)) resolve(e);
    });
  });
  return withTimeout(event, timeoutMs, `event "${String(name)}"`).finally(off);
}

interface Waiter {
  match: (frame: Frame) => boolean;
  resolve: (frame: Frame) => void;
}

/** One client connection as the scripted server sees it. */
export class Peer {
  readonly protocol: string;
  /** Settles with the close code and reason once the socket closes. */
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly unread: Frame[] = [];
  private readonly waiters: Waiter[] = [];

  constructor(private readonly socket: WebSocket) {
    this.protocol = socket.protocol;
    socket.on("message", (data) => this.deliver(JSON.parse(String(data)) as Frame));
    this.closed = new Promise((resolve) => {
      socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  /** The oldest unread frame matching `match`, marked read. */
  take(match: (frame: Frame) => boolean, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<Frame> {
    const index = this.unread.findIndex(match);
    if (index >= 0) return Promise.resolve(this.unread.splice(index, 1)[0] as Frame);
    const frame = new Promise<Frame>((resolve) => this.waiters.push({ match, resolve }));
    return withTimeout(frame, timeoutMs, what);
  }

  /** The next `method` command. */
  async command<M extends Method>(method: M, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedCommand<M>> {
    const frame = await this.take((f) => typeof f["id"] === "number" && method in f, `a ${method} command`, timeoutMs);
    return { id: frame["id"] as number, request: frame[method] as Methods[M]["request"] };
  }

  /** Awaits `connect` and accepts it; returns the request. */
  async accept(result: Partial<ConnectResult> = {}): Promise<Methods["connect"]["request"]> {
    const { id, request } = await this.command("connect");
    this.reply(id, "connect", { client: "c1", version: 1, pingIntervalMs: 60_000, maxMessageBytes: 65_536, ...result });
    return request;
  }

  reply<M extends Method>(id: number, method: M, result: Methods[M]["result"]): void {
    this.send({ id, [method]: result });
  }

  replyError(id: number, error: ErrorBody): void {
    this.send({ id, error });
  }

  push<P extends PushType>(type: P, body: Pushes[P]): void {
    this.send({ [type]: body });
  }

  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame));
  }

  close(code: number, reason = ""): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  private deliver(frame: Frame): void {
    const index = this.waiters.findIndex((w) => w.match(frame));
    if (index < 0) {
      this.unread.push(frame);
      return;
    }
    const [waiter] = this.waiters.splice(index, 1);
    waiter?.resolve(frame);
  }
}

/** A `ws` server on 127.0.0.1 and a free port, handing each connection to the test as a {@link Peer}. */
export class ScriptedServer {
  readonly url: string;
  /** Every peer so far, oldest first. */
  readonly peers: Peer[] = [];
  private taken = 0;
  private readonly waiters: ((peer: Peer) => void)[] = [];

  private constructor(private readonly wss: WebSocketServer) {
    const { port } = wss.address() as AddressInfo;
    this.url = `ws://127.0.0.1:${port}`;
    wss.on("connection", (socket) => {
      const peer = new Peer(socket);
      this.peers.push(peer);
      this.waiters.shift()?.(peer);
    });
  }

  /** Starts a server that accepts the `hubcast.v1.json` subprotocol. */
  static start(): Promise<ScriptedServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({
        host: "127.0.0.1",
        port: 0,
        handleProtocols: (protocols) => (protocols.has("hubcast.v1.json") ? "hubcast.v1.json" : false),
      });
      wss.once("error", reject);
      wss.once("listening", () => resolve(new ScriptedServer(wss)));
    });
  }

  /** The next connection not yet handed out, in arrival order. */
  nextPeer(timeoutMs = DEFAULT_WAIT_MS): Promise<Peer> {
    const index = this.taken++;
    const existing = this.peers[index];
    if (existing !== undefined) return Promise.resolve(existing);
    const peer = new Promise<Peer>((resolve) => this.waiters.push(resolve));
    return withTimeout(peer, timeoutMs, `connection #${index + 1}`);
  }

  /** Drops every connection and stops listening. */
  close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    return new Promise((resolve, reject) => this.wss.close((error) => (error ? reject(error) : resolve())));
  }
}
