/**
 * Pusher webhooks out of one node, for every app it serves: batched per target, signed as
 * Pusher signs them, retried with backoff, bounded in memory.
 *
 * The format (Pusher's webhook docs, and what the `pusher` SDK's `webhook().isValid()` checks):
 * a POST of `{"time_ms": <ms>, "events": [...]}` with `Content-Type: application/json`
 * (exactly: the SDK compares the whole header), `X-Pusher-Key: <app key>` and
 * `X-Pusher-Signature: <hex HMAC-SHA256 of the raw body with the app secret>`. Any answer but
 * 2xx is a failure and is retried with exponential backoff, as Pusher does (for 5 minutes).
 */
import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { Logger } from "pino";
import { RateLimitedLog } from "../rate-limited-log.js";
import { checkInteger } from "../validation.js";
import { VERSION } from "../version.js";
import type { ResolvedPusherApp, WebhookEventName, WebhookTarget } from "./apps.js";

/** One webhook event, as Pusher sends it in `events`. */
export type WebhookEvent =
  | { name: "channel_occupied"; channel: string }
  | { name: "channel_vacated"; channel: string }
  | { name: "member_added"; channel: string; user_id: string }
  | { name: "member_removed"; channel: string; user_id: string }
  | {
      name: "client_event";
      channel: string;
      /** The client event's name (`client-...`). */
      event: string;
      /** The event's data as the client sent it, JSON-encoded if it was not a string. */
      data: string;
      socket_id: string;
      /** The sender's user id; only on presence channels. */
      user_id?: string;
    };

/** Why events never reached a target. */
export const WEBHOOK_DROP_REASONS = ["queue_full", "failed", "closed"] as const;
export type WebhookDropReason = (typeof WEBHOOK_DROP_REASONS)[number];

/** Events that one target will not get, for counting. */
export interface WebhookDrop {
  app: ResolvedPusherApp;
  url: string;
  /** `queue_full`: the target's queue was at its cap (the oldest queued event went); `failed`: every attempt failed; `closed`: the sender closed first. */
  reason: WebhookDropReason;
  events: number;
}

/** Events that one target answered 2xx to. */
export interface WebhookDelivery {
  app: ResolvedPusherApp;
  url: string;
  events: number;
  /** 1 when the first POST succeeded. */
  attempts: number;
}

export interface WebhookSenderOptions {
  logger: Logger;
  /** Called for every batch or event given up, with how many events; for metrics. */
  onDropped?: (drop: WebhookDrop) => void;
  /** Called for every batch a target accepted; for metrics. */
  onDelivered?: (delivery: WebhookDelivery) => void;
  /** Events for one target wait this long for company before they are sent. @default 50 */
  windowMs?: number;
  /** Most events in one POST; a full batch is sent without waiting for the window. @default 100 */
  maxBatchEvents?: number;
  /** Most events waiting for one target (besides the batch being sent); past it the oldest is dropped. @default 1_000 */
  maxQueuedEvents?: number;
  /** A POST not fully answered within this many ms has failed. @default 5_000 */
  timeoutMs?: number;
  /** The wait before the first retry; each later wait doubles, ±25 % jitter. @default 1_000 */
  retryBaseMs?: number;
  /** The longest wait between two attempts. @default 60_000 */
  retryMaxMs?: number;
  /** Attempts per batch, the first included, before it is dropped. The defaults retry for about 4 minutes, close to Pusher's 5. @default 10 */
  maxAttempts?: number;
  /** How long `close()` may spend sending what is queued. @default 5_000 */
  closeTimeoutMs?: number;
}

type ResolvedSenderOptions = Readonly<Required<Omit<WebhookSenderOptions, "logger" | "onDropped" | "onDelivered">>>;

/** Applies the defaults of the sender's limits and timings and checks them. */
export function resolveWebhookSenderOptions(opts: WebhookSenderOptions): ResolvedSenderOptions {
  const o = {
    windowMs: checkInteger("windowMs", opts.windowMs ?? 50, 0),
    maxBatchEvents: checkInteger("maxBatchEvents", opts.maxBatchEvents ?? 100, 1),
    maxQueuedEvents: checkInteger("maxQueuedEvents", opts.maxQueuedEvents ?? 1_000, 1),
    timeoutMs: checkInteger("timeoutMs", opts.timeoutMs ?? 5_000, 1),
    retryBaseMs: checkInteger("retryBaseMs", opts.retryBaseMs ?? 1_000, 1),
    retryMaxMs: checkInteger("retryMaxMs", opts.retryMaxMs ?? 60_000, 1),
    maxAttempts: checkInteger("maxAttempts", opts.maxAttempts ?? 10, 1),
    closeTimeoutMs: checkInteger("closeTimeoutMs", opts.closeTimeoutMs ?? 5_000, 0),
  };
  return Object.freeze(o);
}

/** True when some target of `app` takes `name` events: callers skip building events nobody wants. */
export const wantsWebhook = (app: ResolvedPusherApp, name: WebhookEventName): boolean =>
  app.webhooks.some((target) => target.events.includes(name));

/** The `X-Pusher-Signature` of a webhook body: hex HMAC-SHA256 keyed with the app secret. */
export const signWebhook = (secret: string, body: string): string =>
  createHmac("sha256", secret).update(body).digest("hex");

/** A batch taken off a target's queue: the same body (and signature) on every attempt. */
interface Batch {
  readonly body: string;
  readonly events: number;
  attempts: number;
}

/** One target of one app: its queue, and at most one batch and one timer at a time. */
class TargetQueue {
  readonly events: WebhookEvent[] = [];
  /** The batching window, or the wait before a retry; never both. */
  timer: NodeJS.Timeout | undefined;
  /** Being sent or waiting for a retry; later events wait behind it, so a target gets them in order. */
  batch: Batch | undefined;
  /** Ends the POST in flight without calling it back. */
  abort: (() => void) | undefined;

  constructor(
    readonly key: string,
    readonly app: ResolvedPusherApp,
    readonly target: Readonly<Required<WebhookTarget>>,
  ) {}

  get idle(): boolean {
    return this.events.length === 0 && this.batch === undefined && this.timer === undefined;
  }
}

/**
 * Sends the webhooks of every app this node serves. Each target has its own queue: events
 * wait `windowMs` to be sent together (or go at once when `maxBatchEvents` are waiting), one
 * batch is in flight per target, and a failed batch is retried before later events go, so a
 * target receives its events in the order they were queued, at least once unless dropped
 * (every drop is logged and reported to `onDropped`). Memory is bounded by targets ×
 * (`maxQueuedEvents` + `maxBatchEvents`) events.
 */
export class WebhookSender {
  private readonly o: ResolvedSenderOptions;
  private readonly queues = new Map<string, TargetQueue>();
  /** Keep-alive connections to the targets, closed by `close()`. */
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  private readonly attemptFailures: RateLimitedLog;
  private readonly overflows: RateLimitedLog;
  private closed = false;
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  constructor(private readonly options: WebhookSenderOptions) {
    this.o = resolveWebhookSenderOptions(options);
    this.attemptFailures = new RateLimitedLog(options.logger, "webhook POST failed; retrying");
    this.overflows = new RateLimitedLog(options.logger, "webhook queue full; dropped the oldest event");
  }

  /**
   * Queues `event` for each target of `app` that takes it. Never throws and never blocks; after
   * `close()` the event is dropped (`closed`).
   */
  queue(app: ResolvedPusherApp, event: WebhookEvent): void {
    for (const [index, target] of app.webhooks.entries()) {
      if (!target.events.includes(event.name)) continue;
      if (this.closed) {
        this.drop({ app, url: target.url, reason: "closed", events: 1 });
        continue;
      }
      const q = this.queueOf(app, index, target);
      if (q.events.length >= this.o.maxQueuedEvents) {
        q.events.shift();
        this.overflows.failure(undefined, { app: app.id, url: target.url, maxQueuedEvents: this.o.maxQueuedEvents });
        this.drop({ app, url: target.url, reason: "queue_full", events: 1 });
      }
      q.events.push(event);
      this.schedule(q);
    }
  }

  /**
   * Sends what is queued at once (a failure is not retried), waits up to `closeTimeoutMs`,
   * then aborts what is left and drops it (`closed`). Leaves no timer and no connection.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closed = true;
      this.closing = this.shutDown();
    }
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const drained = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    for (const q of [...this.queues.values()]) {
      if (q.timer === undefined) continue;
      clearTimeout(q.timer);
      q.timer = undefined;
      if (q.batch === undefined) this.flush(q);
      else this.attempt(q); // was waiting to retry: one last try
    }
    this.settleAll();
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      deadline = setTimeout(resolve, this.o.closeTimeoutMs);
    });
    await Promise.race([drained, timedOut]);
    clearTimeout(deadline);
    for (const q of this.queues.values()) this.abandon(q);
    this.queues.clear();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private queueOf(app: ResolvedPusherApp, index: number, target: Readonly<Required<WebhookTarget>>): TargetQueue {
    const key = `${app.id}\n${index}\n${target.url}`;
    let q = this.queues.get(key);
    if (q === undefined) {
      q = new TargetQueue(key, app, target);
      this.queues.set(key, q);
    }
    return q;
  }

  /** Starts the window, or sends a full batch now; nothing while a batch is out. */
  private schedule(q: TargetQueue): void {
    if (q.batch !== undefined) return;
    if (q.events.length >= this.o.maxBatchEvents || this.closed) {
      if (q.timer !== undefined) clearTimeout(q.timer);
      q.timer = undefined;
      this.flush(q);
    } else if (q.timer === undefined) {
      q.timer = setTimeout(() => {
        q.timer = undefined;
        this.flush(q);
      }, this.o.windowMs);
      q.timer.unref();
    }
  }

  private flush(q: TargetQueue): void {
    const events = q.events.splice(0, this.o.maxBatchEvents);
    if (events.length === 0) return this.settle(q);
    q.batch = { body: JSON.stringify({ time_ms: Date.now(), events }), events: events.length, attempts: 0 };
    this.attempt(q);
  }

  private attempt(q: TargetQueue): void {
    const batch = q.batch;
    if (batch === undefined) return;
    batch.attempts++;
    const abort = this.post(q, batch.body, (failure) => {
      q.abort = undefined;
      if (failure === undefined) this.delivered(q, batch);
      else this.failed(q, batch, failure);
    });
    q.abort = abort;
  }

  private delivered(q: TargetQueue, batch: Batch): void {
    q.batch = undefined;
    this.options.onDelivered?.({ app: q.app, url: q.target.url, events: batch.events, attempts: batch.attempts });
    this.next(q);
  }

  private failed(q: TargetQueue, batch: Batch, failure: string): void {
    const fields = { app: q.app.id, url: q.target.url, attempt: batch.attempts, events: batch.events, failure };
    if (!this.closed && batch.attempts < this.o.maxAttempts) {
      this.attemptFailures.failure(undefined, fields);
      const backoff = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** (batch.attempts - 1));
      // Jitter, so the nodes of a cluster do not all retry a recovering receiver at the same instant.
      q.timer = setTimeout(
        () => {
          q.timer = undefined;
          this.attempt(q);
        },
        Math.round(backoff * (0.75 + Math.random() * 0.5)),
      );
      q.timer.unref();
      return;
    }
    q.batch = undefined;
    const reason = batch.attempts < this.o.maxAttempts ? "closed" : "failed";
    this.options.logger.warn(fields, "webhook batch dropped: its POST failed");
    this.drop({ app: q.app, url: q.target.url, reason, events: batch.events });
    this.next(q);
  }

  /** After a batch: the events that queued up behind it go through the window again (at once when closing). */
  private next(q: TargetQueue): void {
    if (q.events.length > 0) this.schedule(q);
    else this.settle(q);
  }

  /** Forgets an idle queue, so targets that fell silent cost nothing. */
  private settle(q: TargetQueue): void {
    if (!q.idle || this.queues.get(q.key) !== q) return;
    this.queues.delete(q.key);
    this.settleAll();
  }

  private settleAll(): void {
    if (this.queues.size === 0) this.drained?.();
  }

  /** close() past its deadline: drops the batch and the queue, and ends the request (its answer is ignored). */
  private abandon(q: TargetQueue): void {
    if (q.timer !== undefined) clearTimeout(q.timer);
    q.timer = undefined;
    q.abort?.();
    q.abort = undefined;
    const events = q.events.length + (q.batch?.events ?? 0);
    q.events.length = 0;
    q.batch = undefined;
    if (events > 0) {
      this.options.logger.warn({ app: q.app.id, url: q.target.url, events }, "webhooks dropped: sender closed");
      this.drop({ app: q.app, url: q.target.url, reason: "closed", events });
    }
  }

  private drop(drop: WebhookDrop): void {
    this.options.onDropped?.(drop);
  }

  /**
   * POSTs `body` to the target; calls `done(undefined)` once on a 2xx answer read to its end,
   * else `done(why)`, unless the returned abort ran first.
   */
  private post(q: TargetQueue, body: string, done: (failure: string | undefined) => void): () => void {
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let request: http.ClientRequest | undefined;
    const finish = (failure: string | undefined): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done(failure);
    };
    const abort = (): void => {
      finished = true;
      clearTimeout(timer);
      request?.destroy();
    };
    try {
      const url = new URL(q.target.url);
      const secure = url.protocol === "https:";
      request = (secure ? https : http).request(url, {
        method: "POST",
        agent: secure ? this.agents.https : this.agents.http,
        headers: {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(body),
          "User-Agent": `hubcast/${VERSION}`,
          "X-Pusher-Key": q.app.key,
          "X-Pusher-Signature": signWebhook(q.app.secret, body),
        },
      });
    } catch (err) {
      // A URL or header Node refuses: failing like a network error keeps one path (retries, then a logged drop).
      const failure = err instanceof Error ? err.message : String(err);
      queueMicrotask(() => finish(failure));
      return abort;
    }
    const sent = request;
    sent.on("response", (res) => {
      const status = res.statusCode ?? 0;
      res.on("error", (err) => finish(err.message));
      res.on("end", () => finish(status >= 200 && status < 300 ? undefined : `HTTP ${status}`));
      res.resume(); // the body is not needed; reading it frees the connection for the next batch
    });
    sent.on("error", (err) => finish(err.message));
    sent.on("close", () => finish("connection closed before the answer ended"));
    timer = setTimeout(() => sent.destroy(new Error(`no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    timer.unref();
    sent.end(body);
    return abort;
  }
}
