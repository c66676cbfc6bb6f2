import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Framer, Transport, TransportEvents } from "./transport.js";
import { isBidirectional, type TransportName } from "./transport.js";

/** The close code reported when the client went away (closed the request, dropped the socket). */
const CLIENT_GONE = 1001;

/**
 * A {@link Transport} over a streamed HTTP response (SSE, NDJSON): writes the events
 * its session framed, reports what the response and its socket still hold (so a reader that
 * does not keep up meets the connection budget, 3003), closes by ending the response (the
 * session's `disconnect` event said why), and terminates by destroying the socket.
 *
 * Nothing is written before {@link start}: until then the node may still answer the request
 * with an HTTP error, so anything the session writes early (a drain's goodbye) is dropped.
 */
export class HttpStreamTransport implements Transport {
  private handler: TransportEvents | undefined;
  private started = false;
  private closeCode = CLIENT_GONE;

  constructor(
    readonly name: TransportName,
    private readonly res: ServerResponse,
    readonly framer: Framer,
  ) {}

  /** One-way (SSE, NDJSON streams) or two-way (the emulations, whose client POSTs its frames). */
  get bidirectional(): boolean {
    return isBidirectional(this.name);
  }

  /** A frame the client sent by POST (two-way emulations): handed to the session as if it came on this link. */
  receive(frame: Buffer): void {
    this.handler?.onMessage(frame, false);
  }

  /** Output not yet taken by the client: the response's own buffer and its socket's. */
  get heldBytes(): number {
    return this.res.writableLength;
  }

  /** Also true before {@link start}, so nothing goes out ahead of the status line. */
  get destroyed(): boolean {
    return !this.started || this.res.writableEnded || this.res.destroyed;
  }

  /**
   * Sends the status line, `headers` and `prelude`, and reports to `handler` from now on.
   * Resolves nothing: when the client is already gone, `handler.onClosed` is called at once.
   */
  start(handler: TransportEvents, headers: OutgoingHttpHeaders, prelude: Buffer): void {
    this.handler = handler;
    const res = this.res;
    if (res.destroyed || res.socket === null || res.socket.destroyed) {
      this.closed();
      return;
    }
    this.started = true;
    res.on("close", () => this.closed());
    res.socket.setNoDelay(true);
    res.socket.setTimeout(0);
    res.writeHead(200, headers);
    if (prelude.length > 0) res.write(prelude);
    else res.flushHeaders();
  }

  write(frame: Buffer): void {
    this.res.write(frame);
  }

  /** One corked write for all of them. */
  writeMany(frames: readonly Buffer[]): void {
    const res = this.res;
    res.cork();
    for (const frame of frames) res.write(frame);
    res.uncork();
  }

  /** Ends the response after what was written; the client reads the session's `disconnect` event first. */
  close(code: number, _reason: string): void {
    this.closeCode = code;
    if (this.started && !this.res.writableEnded) this.res.end();
  }

  /** Drops the socket at once (a reader that no longer reads). */
  terminate(): void {
    this.res.destroy();
  }

  private closed(): void {
    const handler = this.handler;
    this.handler = undefined;
    handler?.onClosed(this.closeCode);
  }
}
