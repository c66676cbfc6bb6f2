import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { encodePayload, nowUs } from "../payload.js";
import type { ApiAuth, ProtocolAdapter } from "../peers/index.js";

/** A source of numbered publications: a publishing connection, or a lane of the server API. */
export interface PublishLane {
  /** Number of this publisher within its channel. */
  readonly lane: number;
  /** Last sequence number sent. */
  seq: number;
  /** Publications sent and not answered yet. */
  inFlight: number;
  /** Channel index it publishes to. */
  readonly spec: { readonly publishChannel: number };
  /** Sends `data`; false when the lane cannot send now (its connection is down). */
  publish(data: string): boolean;
}

/** What the scheduler reports. */
export interface PublishEvents {
  onSent(lane: PublishLane, sentAtUs: number): void;
  /** A due publication was not sent because the lane was down. */
  onSkipped(lane: PublishLane): void;
}

/**
 * Drives publishing. At a fixed rate, lane k of n sends its publications at
 * `start + (j·n + k) × step`, evenly interleaved, so the worker sends at an even pace with one
 * timer; a late timer sends what is due at once (the lateness then shows in latencies). With
 * rate "max", each lane keeps `window` publications unanswered and sends the next on each
 * answer.
 */
export class PublishScheduler {
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private running = false;
  private paused = false;
  private startAtUs = 0;
  private stopAtUs = 0;
  private readonly tick = (): void => this.onTick();

  constructor(
    private readonly lanes: readonly PublishLane[],
    private readonly options: { laneRate: number | "max"; window: number; payloadBytes: number },
    private readonly events: PublishEvents,
  ) {}

  /** Publishes from `startAtUs` until `stopAtUs` (µs, see nowUs). */
  run(startAtUs: number, stopAtUs: number): void {
    if (this.lanes.length === 0) return;
    this.startAtUs = startAtUs;
    this.stopAtUs = stopAtUs;
    this.running = true;
    this.timer = setTimeout(this.tick, Math.max(0, (startAtUs - nowUs()) / 1000));
  }

  /** Stops publishing now. */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Pauses or resumes a rate-"max" run. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused && this.running && this.options.laneRate === "max") for (const lane of this.lanes) this.pump(lane);
  }

  /** A lane's publication was answered; with rate "max" its window has room again. */
  onAnswered(lane: PublishLane): void {
    if (this.running && this.options.laneRate === "max") this.pump(lane);
  }

  private onTick(): void {
    this.timer = undefined;
    if (!this.running) return;
    const now = nowUs();
    if (now >= this.stopAtUs) return this.stop();
    if (this.options.laneRate === "max") {
      for (const lane of this.lanes) this.pump(lane);
      this.timer = setTimeout(this.tick, Math.max(1, (this.stopAtUs - now) / 1000));
      return;
    }
    const stepUs = 1e6 / (this.options.laneRate * this.lanes.length);
    let due = this.startAtUs + this.next * stepUs;
    while (due <= now && due < this.stopAtUs) {
      this.send(this.lanes[this.next % this.lanes.length] as PublishLane, now);
      this.next += 1;
      due = this.startAtUs + this.next * stepUs;
    }
    if (due >= this.stopAtUs) return this.stop();
    this.timer = setTimeout(this.tick, Math.max(0, (due - nowUs()) / 1000));
  }

  private pump(lane: PublishLane): void {
    if (this.paused) return;
    const now = nowUs();
    if (now >= this.stopAtUs) return;
    while (lane.inFlight < this.options.window) {
      if (!this.send(lane, now)) return;
    }
  }

  private send(lane: PublishLane, now: number): boolean {
    const seq = lane.seq + 1;
    if (!lane.publish(encodePayload(lane.lane, seq, now, this.options.payloadBytes))) {
      this.events.onSkipped(lane);
      return false;
    }
    lane.seq = seq;
    this.events.onSent(lane, now);
    return true;
  }
}

/** Where API lanes report answers. */
export interface ApiAnswers {
  onApiAnswer(lane: ApiLane, error: string | undefined): void;
}

/** Where an {@link ApiLane} sends its requests ({@link ApiClient}); it answers each through `lane.answered`. */
export interface ApiPoster {
  /** Most publications one request may carry (a batch API); 1 when requests carry one. */
  readonly batchLimit: number;
  /** Posts `data` (one publication, or up to {@link batchLimit} in order) to `channel`. */
  post(channel: string, data: readonly string[], lane: ApiLane): void;
}

/** Publications an API lane queues behind the request on the wire; past this it refuses (counted as publish errors). */
export const MAX_API_LANE_QUEUE = 1_000;

/**
 * A publisher lane that publishes through the server's HTTP API (as the adapter builds the
 * request), one request at a time: requests in parallel on several sockets may reach the
 * server in another order than they were sent, which subscribers would see as out of order.
 * What comes due meanwhile waits, its send time already taken, so the wait counts as latency;
 * where the API takes batches (Pusher's `batch_events`), the next request carries everything
 * waiting, up to the batch limit, so a busy server does not leave the lane ever further behind.
 */
export class ApiLane implements PublishLane {
  seq = 0;
  inFlight = 0;
  /** Publications waiting behind the request on the wire, oldest first. */
  private readonly waiting: string[] = [];
  /** Publications the request on the wire carries; 0 when none is on the wire. */
  private onWire = 0;

  constructor(
    readonly lane: number,
    readonly spec: { readonly publishChannel: number },
    private readonly channel: string,
    private readonly api: ApiPoster,
    private readonly answers: ApiAnswers,
  ) {}

  /** Whether the lane is so far behind that it refuses new publications. */
  get backlogged(): boolean {
    return this.waiting.length >= MAX_API_LANE_QUEUE;
  }

  publish(data: string): boolean {
    if (this.backlogged) return false;
    this.inFlight += 1;
    this.waiting.push(data);
    if (this.onWire === 0) this.sendWaiting();
    return true;
  }

  /** @internal The request on the wire was answered: `error` applies to every publication it carried. */
  answered(error: string | undefined): void {
    const carried = this.onWire;
    this.onWire = 0;
    this.inFlight = Math.max(0, this.inFlight - carried);
    if (this.waiting.length > 0) this.sendWaiting();
    for (let i = 0; i < carried; i += 1) this.answers.onApiAnswer(this, error);
  }

  private sendWaiting(): void {
    const batch = this.waiting.splice(0, Math.max(1, this.api.batchLimit));
    this.onWire = batch.length;
    this.api.post(this.channel, batch, this);
  }
}

/** Keep-alive HTTP client for the server API, shared by a worker's API lanes. */
export class ApiClient implements ApiPoster {
  private readonly agent: HttpAgent;
  private readonly url: URL;

  constructor(
    baseUrl: string,
    /** The credentials the adapter signs or authorizes its requests with. */
    private readonly auth: ApiAuth,
    private readonly adapter: ProtocolAdapter,
  ) {
    this.url = new URL(baseUrl);
    const agentOptions = { keepAlive: true, maxSockets: 256 };
    this.agent = this.url.protocol === "https:" ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  }

  get batchLimit(): number {
    return this.adapter.apiBatchLimit?.(this.auth) ?? 1;
  }

  /** Publishes `data` to `channel` (one request, a batch when there are several); the lane hears the answer. */
  post(channel: string, data: readonly string[], lane: ApiLane): void {
    const api =
      data.length === 1
        ? this.adapter.apiPublish?.(channel, data[0] as string, this.auth)
        : this.adapter.apiPublishBatch?.(channel, data, this.auth);
    if (api === undefined) return lane.answered(`--protocol ${this.adapter.name} has no server API publish`);
    const request = this.url.protocol === "https:" ? httpsRequest : httpRequest;
    // Keep a path prefix of the base URL (an API behind a proxy at /hubcast/…).
    const req = request(new URL(`${this.url.pathname.replace(/\/+$/, "")}${api.path}`, this.url), {
      method: "POST",
      agent: this.agent,
      headers: {
        ...api.headers,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(api.body),
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () =>
        lane.answered(res.statusCode === 200 ? undefined : `API answered ${res.statusCode}: ${body.slice(0, 200)}`),
      );
    });
    req.on("error", (err: NodeJS.ErrnoException) => lane.answered(`API request failed: ${err.code ?? err.message}`));
    req.end(api.body);
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }
}
