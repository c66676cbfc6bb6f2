import { createHash } from "node:crypto";
import type { UpgradeRequest } from "./upgrade-request.js";

/** The GUID every server hashes into `Sec-WebSocket-Accept` (RFC 6455 §1.3). */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** A key is 16 random bytes in base64 (RFC 6455 §4.1). */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Why an upgrade request is not a WebSocket opening handshake this node can answer. */
export interface HandshakeRefusal {
  status: string;
  message: string;
  headers?: string;
}

/** Checks the parts of the opening handshake every WebSocket upgrade must have (RFC 6455 §4.2.1). */
export function checkHandshake(req: UpgradeRequest): HandshakeRefusal | undefined {
  if (req.method !== "GET")
    return { status: "405 Method Not Allowed", message: "a WebSocket handshake must be a GET request" };
  if (req.headers.upgrade?.toLowerCase() !== "websocket")
    return { status: "400 Bad Request", message: 'the Upgrade header must be "websocket"' };
  const version = req.headers["sec-websocket-version"];
  if (version !== "13") {
    return {
      status: "400 Bad Request",
      message: "unsupported Sec-WebSocket-Version; this server speaks version 13",
      headers: "Sec-WebSocket-Version: 13\r\n",
    };
  }
  const key = req.headers["sec-websocket-key"];
  if (key === undefined || !KEY.test(key.trim()))
    return { status: "400 Bad Request", message: "missing or invalid Sec-WebSocket-Key header" };
  return undefined;
}

/** The `101 Switching Protocols` answer, with the subprotocol and extensions the node chose. */
export function acceptResponse(key: string, protocol: string | undefined, extensions: string | undefined): string {
  const accept = createHash("sha1")
    .update(key.trim() + WEBSOCKET_GUID)
    .digest("base64");
  return (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${accept}\r\n` +
    (protocol === undefined ? "" : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
    (extensions === undefined ? "" : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
    "\r\n"
  );
}
