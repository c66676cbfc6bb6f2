import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import Pusher from "pusher";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { withTimeout } from "../../../../test/support/raw-client.js";
import { freePort } from "../../../../test/support/redis.js";
import { trackTimers } from "../../../../test/support/timers.js";
import { OptionError } from "../validation.js";
import { resolvePusherApps } from "./apps.js";
import type { ResolvedPusherApp, WebhookEventName } from "./apps.js";
import type { WebhookDelivery, WebhookDrop, WebhookEvent, WebhookSenderOptions } from "./webhooks.js";
import { WebhookSender } from "./webhooks.js";

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
}

/** A webhook receiver on loopback that records every POST and answers as the test says. */
class Receiver {
  readonly received: Received[] = [];
  /** How the nth request (from 0) is answered: a status, or a promise of one (the answer waits for it). */
  answer: (n: number, request: Received) => number | Promise<number> = () => 200;
  private readonly arrivals = new Set<() => void>();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = { path: req.url ?? "", headers: req.headers, rawBody: Buffer.concat(chunks).toString("utf8") };
      const n = this.received.length;
      this.received.push(request);
      for (const arrived of this.arrivals) arrived();
      void Promise.resolve(this.answer(n, request)).then((status) => res.writeHead(status).end("ok"));
    });
  });
  private port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Resolves once `count` requests in all have arrived. */
  waitFor(count: number, what: string, timeoutMs = 5_000): Promise<Received[]> {
    let check: (() => void) | undefined;
    const arrived = new Promise<Received[]>((resolve) => {
      check = () => {
        if (this.received.length >= count) resolve(this.received);
      };
      this.arrivals.add(check);
      check();
    });
    return withTimeout(arrived, timeoutMs, what).finally(() => {
      if (check !== undefined) this.arrivals.delete(check);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const APP = { id: "7", key: "hook-key", secret: "hook-secret-1234" };
const logger = pino({ level: "silent" });

function appWith(targets: { url: string; events?: WebhookEventName[] }[]): ResolvedPusherApp {
  const [app] = resolvePusherApps([{ ...APP, webhooks: targets }]);
  if (app === undefined) throw new Error("no app");
  return app;
}

/** What the real Pusher SDK makes of a request: whether it is valid, and its events. */
function verify(request: Received, secret = APP.secret): { valid: boolean; events: unknown[]; timeMs: number } {
  const webhook = new Pusher({ appId: APP.id, key: APP.key, secret, host: "127.0.0.1" }).webhook({
    headers: request.headers,
    rawBody: request.rawBody,
  });
  const valid = webhook.isValid();
  return { valid, events: valid ? webhook.getEvents() : [], timeMs: valid ? webhook.getTime().getTime() : 0 };
}

const occupied = (channel: string): WebhookEvent => ({ name: "channel_occupied", channel });

describe("WebhookSender", () => {
  let receiver: Receiver;
  let sender: WebhookSender | undefined;
  let drops: WebhookDrop[];
  let deliveries: WebhookDelivery[];
  let warnings: string[];

  beforeEach(async () => {
    receiver = new Receiver();
    await receiver.start();
    drops = [];
    deliveries = [];
    warnings = [];
  });
  afterEach(async () => {
    await sender?.close();
    sender = undefined;
    await receiver.close();
  });

  const start = (options: Partial<WebhookSenderOptions> = {}): WebhookSender => {
    const capture = { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) };
    sender = new WebhookSender({
      logger: pino({ level: "warn" }, capture),
      onDropped: (drop) => drops.push(drop),
      onDelivered: (delivery) => deliveries.push(delivery),
      windowMs: 20,
      retryBaseMs: 20,
      ...options,
    });
    return sender;
  };

  it("sends events queued together in one POST that the pusher SDK verifies", async () => {
    const app = appWith([{ url: receiver.url() }]);
    const s = start();
    const before = Date.now();
    const events: WebhookEvent[] = [
      occupied("room"),
      { name: "member_added", channel: "presence-room", user_id: "ann" },
      { name: "client_event", channel: "private-room", event: "client-typing", data: '{"on":true}', socket_id: "1.2" },
      {
        name: "client_event",
        channel: "presence-room",
        event: "client-x",
        data: "plain",
        socket_id: "3.4",
        user_id: "ann",
      },
    ];
    for (const event of events) s.queue(app, event);
    const [request] = await receiver.waitFor(1, "the batch");
    if (request === undefined) throw new Error("no request");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["x-pusher-key"]).toBe(APP.key);
    const checked = verify(request);
    expect(checked.valid).toBe(true);
    expect(checked.events).toEqual(events);
    expect(checked.timeMs).toBeGreaterThanOrEqual(before);
    expect(checked.timeMs).toBeLessThanOrEqual(Date.now());
    expect(verify(request, "another-secret-99").valid).toBe(false);
    expect(verify({ ...request, rawBody: request.rawBody.replace("room", "roon") }).valid).toBe(false);
    expect(receiver.received).toHaveLength(1);
  });

  it("sends a full batch without waiting for the window, and the rest in the next", async () => {
    const app = appWith([{ url: receiver.url() }]);
    const s = start({ windowMs: 60_000, maxBatchEvents: 2 });
    for (const channel of ["a", "b", "c", "d"]) s.queue(app, occupied(channel));
    const [first, second] = await receiver.waitFor(2, "two full batches");
    expect(verify(first as Received).events).toEqual([occupied("a"), occupied("b")]);
    expect(verify(second as Received).events).toEqual([occupied("c"), occupied("d")]);
  });

  it("sends each target only the events it takes, and nothing for apps without targets", async () => {
    const app = appWith([
      { url: receiver.url("/occupancy"), events: ["channel_occupied", "channel_vacated"] },
      { url: receiver.url("/all") },
    ]);
    const s = start();
    s.queue(appWith([]), occupied("elsewhere"));
    s.queue(app, { name: "member_added", channel: "presence-x", user_id: "u" });
    s.queue(app, occupied("x"));
    await receiver.waitFor(2, "one POST per target");
    const byPath = new Map(receiver.received.map((r) => [r.path, verify(r).events]));
    expect(byPath.get("/occupancy")).toEqual([occupied("x")]);
    expect(byPath.get("/all")).toEqual([{ name: "member_added", channel: "presence-x", user_id: "u" }, occupied("x")]);
  });

  it("retries a refused batch with the same signed body, and sends later events after it", async () => {
    const app = appWith([{ url: receiver.url() }]);
    const s = start();
    receiver.answer = (n) => (n === 0 ? 500 : 200);
    s.queue(app, occupied("first"));
    await receiver.waitFor(1, "the first attempt");
    s.queue(app, occupied("second"));
    const [attempt1, attempt2, next] = await receiver.waitFor(3, "the retry and the next batch");
    await eventually(() => deliveries.length === 2, 5_000, "both deliveries", 5);
    expect(attempt2?.rawBody).toBe(attempt1?.rawBody);
    expect(attempt2?.headers["x-pusher-signature"]).toBe(attempt1?.headers["x-pusher-signature"]);
    expect(verify(attempt2 as Received).events).toEqual([occupied("first")]);
    expect(verify(next as Received).events).toEqual([occupied("second")]);
    expect(deliveries.map((d) => [d.events, d.attempts])).toEqual([
      [1, 2],
      [1, 1],
    ]);
    expect(drops).toEqual([]);
  });

  it("drops a batch after maxAttempts failures (status, refused connection, timeout) and goes on", async () => {
    const app = appWith([{ url: receiver.url() }]);
    const s = start({ maxAttempts: 3, timeoutMs: 200 });
    receiver.answer = (n) => (n < 3 ? 503 : 200);
    s.queue(app, occupied("doomed"));
    await receiver.waitFor(3, "three attempts");
    await eventually(() => drops.length === 1, 5_000, "the drop", 5);
    expect(drops[0]).toMatchObject({ reason: "failed", events: 1, url: receiver.url() });
    s.queue(app, occupied("later"));
    const received = await receiver.waitFor(4, "the next batch");
    expect(verify(received[3] as Received).events).toEqual([occupied("later")]);

    const closedPort = await freePort();
    const refused = appWith([{ url: `http://127.0.0.1:${closedPort}/hook` }]);
    s.queue(refused, occupied("nobody-listens"));
    await eventually(() => drops.length === 2, 5_000, "the drop of the refused batch", 5);
    expect(drops[1]).toMatchObject({ reason: "failed", events: 1 });

    receiver.answer = () => new Promise<number>(() => undefined); // never answers
    const hang = appWith([{ url: receiver.url("/hang") }]);
    s.queue(hang, occupied("silence"));
    await eventually(() => drops.length === 3, 5_000, "the drop after three timeouts", 5);
    expect(receiver.received.filter((r) => r.path === "/hang")).toHaveLength(3);
  });

  it("caps each target's queue, dropping the oldest waiting events", async () => {
    const app = appWith([{ url: receiver.url() }]);
    const s = start({ maxQueuedEvents: 3 });
    let release: (status: number) => void = () => undefined;
    receiver.answer = (n) => (n === 0 ? new Promise<number>((resolve) => (release = resolve)) : 200);
    s.queue(app, occupied("in-flight"));
    await receiver.waitFor(1, "the held batch");
    for (const channel of ["e1", "e2", "e3", "e4", "e5"]) s.queue(app, occupied(channel));
    expect(drops).toEqual([
      expect.objectContaining({ reason: "queue_full", events: 1 }),
      expect.objectContaining({ reason: "queue_full", events: 1 }),
    ]);
    release(200);
    const [, next] = await receiver.waitFor(2, "the batch after the held one");
    expect(verify(next as Received).events).toEqual([occupied("e3"), occupied("e4"), occupied("e5")]);
  });

  it("close() sends what is queued at once, refuses later events, and leaves no timer", async () => {
    const timers = trackTimers();
    onTestFinished(() => timers.restore());
    const app = appWith([{ url: receiver.url() }]);
    const s = start({ windowMs: 60_000 });
    s.queue(app, occupied("a"));
    s.queue(app, occupied("b"));
    await withTimeout(s.close(), 5_000, "close");
    expect(receiver.received).toHaveLength(1);
    expect(verify(receiver.received[0] as Received).events).toEqual([occupied("a"), occupied("b")]);
    s.queue(app, occupied("late"));
    expect(drops).toEqual([expect.objectContaining({ reason: "closed", events: 1 })]);
    expect(timers.pending()).toBe(0);
  });

  it("close() gives a batch waiting to retry one last try", async () => {
    const app = appWith([{ url: receiver.url() }]);
    const s = start({ retryBaseMs: 60_000 });
    receiver.answer = (n) => (n === 0 ? 500 : 200);
    s.queue(app, occupied("retry-me"));
    await receiver.waitFor(1, "the first attempt");
    await eventually(() => warnings.includes("webhook POST failed; retrying"), 5_000, "the failed attempt", 5);
    await withTimeout(s.close(), 5_000, "close");
    expect(receiver.received).toHaveLength(2);
    expect(deliveries).toEqual([expect.objectContaining({ events: 1, attempts: 2 })]);
  });

  it("close() stops at its deadline and drops what is still out", async () => {
    const timers = trackTimers();
    onTestFinished(() => timers.restore());
    const app = appWith([{ url: receiver.url() }]);
    const s = start({ closeTimeoutMs: 100, timeoutMs: 60_000, maxBatchEvents: 1 });
    receiver.answer = () => new Promise<number>(() => undefined);
    s.queue(app, occupied("stuck"));
    s.queue(app, occupied("behind"));
    await receiver.waitFor(1, "the stuck POST");
    const started = Date.now();
    await withTimeout(s.close(), 5_000, "close");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(drops).toEqual([expect.objectContaining({ reason: "closed", events: 2 })]);
    expect(timers.pending()).toBe(0);
  });

  it("refuses limits that cannot work, naming the option", () => {
    expect(() => new WebhookSender({ logger, maxAttempts: 0 })).toThrow(OptionError);
    expect(() => new WebhookSender({ logger, maxQueuedEvents: -1 })).toThrow(/maxQueuedEvents/);
    expect(() => new WebhookSender({ logger, windowMs: 1.5 })).toThrow(/windowMs/);
  });
});
