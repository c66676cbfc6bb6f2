import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import { RateLimitedLog } from "../rate-limited-log.js";
import { SECURITY_HEADERS, safeJson } from "./http.js";
import type { AdminNode } from "./questions.js";

/** How the live streams run; the defaults suit a node. */
export interface LiveOptions {
  /** How often every stream gets a `cluster` event, in ms. @default 1_000 */
  intervalMs?: number;
  /** A keepalive comment this often, in ms. @default 15_000 */
  keepaliveMs?: number;
  /** Most admin streams open at once on a node; past it a new one is refused (503). @default 32 */
  maxStreams?: number;
  /** How long one round waits for the other nodes' answers, in ms (less than the interval, so rounds keep their pace). @default 800 */
  surveyTimeoutMs?: number;
  /** Output a stream may hold unsent (a viewer that stopped reading); past it the stream is ended. @default 262_144 */
  maxBufferedBytes?: number;
  /** @default Date.now */
  now?: () => number;
}

interface Stream {
  res: ServerResponse;
  /** When its session expires (ms since the epoch): the stream ends then. */
  expiresAt: number;
}

/**
 * The admin UI's live view: `text/event-stream` answers that get a `cluster` event
 * (`{"nodes": [...], "at": ms}`) every interval and a keepalive comment every 15 s, until their
 * session expires. One node-wide timer runs while any stream is open and asks the cluster once
 * per round for all of them, not once per stream; a round still waiting for answers is not
 * started again.
 */
export class LiveStreams {
  private readonly streams = new Set<Stream>();
  private readonly intervalMs: number;
  private readonly keepaliveMs: number;
  private readonly maxStreams: number;
  private readonly surveyTimeoutMs: number;
  private readonly maxBufferedBytes: number;
  private readonly now: () => number;
  private readonly failures: RateLimitedLog;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private lastKeepalive = 0;
  /** The latest event, for a stream that opens between rounds. */
  private last: { at: number; event: string } | undefined;

  constructor(
    private readonly nodes: (timeoutMs: number) => Promise<AdminNode[]>,
    private readonly logger: Logger,
    options: LiveOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.keepaliveMs = options.keepaliveMs ?? 15_000;
    this.maxStreams = options.maxStreams ?? 32;
    this.surveyTimeoutMs = options.surveyTimeoutMs ?? 800;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 262_144;
    this.now = options.now ?? Date.now;
    this.failures = new RateLimitedLog(logger, "admin live view: gathering the cluster's stats failed");
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Whether another stream may open now. */
  get full(): boolean {
    return this.streams.size >= this.maxStreams;
  }

  /** Turns `res` into a live stream until `expiresAt` (call only when not {@link full}). */
  open(res: ServerResponse, expiresAt: number): void {
    const stream: Stream = { res, expiresAt };
    this.streams.add(stream);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Accel-Buffering": "no", // nginx would otherwise hold events back
    });
    res.write(": hubcast admin live\nretry: 2000\n\n");
    if (this.last !== undefined && this.now() - this.last.at < 2 * this.intervalMs) res.write(this.last.event);
    const forget = (): void => {
      this.streams.delete(stream);
      if (this.streams.size === 0) this.stopTimer();
    };
    res.once("close", forget);
    res.on("error", (err) => {
      // A write that failed (the viewer went away mid-write) ends this stream only.
      this.logger.debug({ err }, "admin live stream failed");
      forget();
    });
    if (this.timer === undefined) {
      this.lastKeepalive = this.now();
      this.timer = setInterval(() => this.round(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Ends every stream and stops the timer (the node is closing). */
  close(): void {
    this.stopTimer();
    for (const stream of this.streams) stream.res.end();
    this.streams.clear();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private round(): void {
    const now = this.now();
    for (const stream of this.streams) {
      if (stream.expiresAt <= now) {
        this.streams.delete(stream);
        stream.res.end(": session expired\n\n");
      }
    }
    if (now - this.lastKeepalive >= this.keepaliveMs) {
      this.lastKeepalive = now;
      this.broadcast(": keepalive\n\n");
    }
    if (this.inFlight || this.streams.size === 0) return;
    this.inFlight = true;
    this.nodes(this.surveyTimeoutMs)
      .then(
        (nodes) => {
          const at = this.now();
          const event = `event: cluster\ndata: ${safeJson({ nodes, at })}\n\n`;
          this.last = { at, event };
          this.broadcast(event);
        },
        (err: unknown) => this.failures.failure(err),
      )
      .finally(() => {
        this.inFlight = false;
      });
  }

  private broadcast(text: string): void {
    for (const stream of this.streams) {
      const { res } = stream;
      if (res.writableLength > this.maxBufferedBytes) {
        // A viewer that stopped reading: drop it rather than hold its output without bound.
        this.streams.delete(stream);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }
}
