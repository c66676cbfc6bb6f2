import { connect as netConnect } from "node:net";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { WsTarget } from "./ws/handshake.js";

/** What a lean connection hears from its socket, through the shared handlers below. */
export interface SocketOwner {
  handleConnect(): void;
  handleData(chunk: Buffer): void;
  fail(reason: string): void;
  handleSocketClose(): void;
}

const OWNER = Symbol("leanSocketOwner");
type OwnedSocket = Socket & { [OWNER]: SocketOwner };

// Socket events go through these shared functions (`this` is the socket), so a connection
// costs no closures: the bench holds tens of thousands of them per process.
function onSocketConnect(this: OwnedSocket): void {
  this[OWNER].handleConnect();
}
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER].handleData(chunk);
}
function onSocketRead(this: OwnedSocket, nread: number, buffer: Buffer): boolean {
  this[OWNER].handleData(buffer.subarray(0, nread));
  return true;
}
function onSocketError(this: OwnedSocket, err: NodeJS.ErrnoException): void {
  this[OWNER].fail(err.code ?? err.message);
}
function onSocketTimeout(this: OwnedSocket): void {
  this[OWNER].fail("timeout");
}
function onSocketClose(this: OwnedSocket): void {
  this[OWNER].handleSocketClose();
}

/**
 * Plain sockets read into one buffer shared by every connection of the process (reads run
 * one at a time), through `onread`: no Buffer per read and no stream machinery per chunk.
 * Whatever must outlive a read is copied by the readers that keep it.
 */
const readBuffer = Buffer.allocUnsafe(256 * 1024);

/** Where and how a lean connection opens its socket. */
export interface LeanSocketOptions {
  target: WsTarget;
  /** Local (source) address; the OS picks when undefined. */
  localAddress?: string | undefined;
  /** Time for TCP connect plus the connection's own handshake. @default 10_000 */
  handshakeTimeoutMs?: number;
}

/**
 * Opens a TCP (or TLS, for a secure target) socket that reports to `owner` through shared
 * handlers: the plumbing every lean client of the bench (WebSocket, the emulations) shares.
 */
export function openLeanSocket(owner: SocketOwner, options: LeanSocketOptions): Socket {
  const { target, localAddress } = options;
  // `localAddress` only when set: the socket options reject an explicit undefined.
  const local = localAddress === undefined ? {} : { localAddress };
  const socket = (
    target.secure
      ? tlsConnect({
          host: target.host,
          port: target.port,
          servername: target.host,
          ALPNProtocols: ["http/1.1"],
          ...local,
        })
      : netConnect({
          host: target.host,
          port: target.port,
          onread: { buffer: readBuffer, callback: onSocketRead },
          ...local,
        })
  ) as OwnedSocket;
  socket[OWNER] = owner;
  socket.setNoDelay(true);
  socket.setTimeout(options.handshakeTimeoutMs ?? 10_000);
  socket.once(target.secure ? "secureConnect" : "connect", onSocketConnect);
  if (target.secure) socket.on("data", onSocketData);
  socket.on("error", onSocketError);
  socket.on("timeout", onSocketTimeout);
  socket.on("close", onSocketClose);
  return socket;
}
