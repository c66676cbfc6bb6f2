/**
 * The transport seam: what a session needs of the link to its client, whatever carries it
 * (WebSocket; one-way SSE and NDJSON streams). A session encodes with its codec, frames
 * with its transport's {@link Framer}, and writes the frames through the transport; fan-out
 * shares frames between every subscriber whose codec and framer are the same objects.
 */

/** The transports a node speaks. */
export const TransportName = {
  websocket: "websocket",
  /** One-way: Server-Sent Events (`GET /sse`), for a plain `EventSource`. */
  sse: "sse",
  /** One-way: newline-delimited JSON over a streamed response (`GET /stream`), for `curl -N`. */
  ndjson: "ndjson",
  /** Two-way emulation: protocol frames down a streamed response (NDJSON, read with `fetch`), commands up by POST. */
  httpStream: "http-stream",
  /** Two-way emulation: protocol frames down Server-Sent Events (`EventSource`), commands up by POST. */
  ssePost: "sse-post",
} as const;

/** The transports whose client talks back (WebSocket, and the POST-upstream emulations). */
export const isBidirectional = (name: TransportName): boolean =>
  name === TransportName.websocket || name === TransportName.httpStream || name === TransportName.ssePost;
export type TransportName = (typeof TransportName)[keyof typeof TransportName];

/**
 * Turns an encoded payload into the bytes one transport writes. One instance serves every
 * connection that frames alike (the node holds one per framing), because fan-out builds each
 * publication's frame once per framer and writes the same bytes to all of them.
 */
export interface Framer {
  /** The complete frame for `payload` (`binary`: the codec's payloads are bytes, not text). */
  frame(payload: Uint8Array, binary: boolean): Buffer;
}

/** The link to one client, as its session uses it. */
export interface Transport {
  readonly name: TransportName;
  /**
   * Whether the client can talk back. A one-way link (SSE, NDJSON) is never sent a ping that
   * expects a pong; it gets a keepalive its codec encodes from the `ping` push instead.
   */
  readonly bidirectional: boolean;
  /** How this connection's frames are built; shared by every connection that frames alike. */
  readonly framer: Framer;
  /**
   * Bytes this link holds for its client: output written but not yet taken by the peer, and
   * input received but not yet whole. Read for every frame fan-out writes, so it is cheap.
   */
  readonly heldBytes: number;
  /** Whether the link is gone for writing (closed or destroyed); writes are then dropped. */
  readonly destroyed: boolean;
  /** Writes one frame built by {@link framer} (or a transport control frame). */
  write(frame: Buffer): void;
  /** Writes several frames in one go (one system call where the transport can). */
  writeMany(frames: readonly Buffer[]): void;
  /**
   * Ends the link with a close code from the catalogue, after what was written; the
   * transport tells the client the code where it can (a WebSocket close frame).
   */
  close(code: number, reason: string): void;
  /** Drops the link at once, without a goodbye (a peer that no longer reads). */
  terminate(): void;
}

/** What a transport reports to the session that owns it. */
export interface TransportEvents {
  /** A whole message from the client. */
  onMessage(data: Buffer, binary: boolean): void;
  /**
   * A transport-level ping: `reply` is the transport's answer, which the session writes
   * through its own output path, so answers count toward its budget and rate limit.
   */
  onPing(reply: Buffer): void;
  /** The transport holds more unfinished input ({@link Transport.heldBytes}): check the memory budget. */
  onHeldBytesGrew(): void;
  /** The peer broke the transport's protocol; the link is being failed with `code`. */
  onProtocolError(code: number, message: string): void;
  /** The link has closed: with the peer's close code, the code the link failed with, or 1006. */
  onClosed(code: number): void;
  /** Reading threw where nothing should (a bug): the session must end this link, and only it. */
  onUnexpectedError(err: unknown): void;
}
