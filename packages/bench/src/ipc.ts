import type { Transport } from "./transport.js";
import type { HistogramSnapshot } from "./histogram.js";
import type { Layout } from "./layout.js";
import type { PusherApp } from "./pusher/app.js";

/** What a worker is told to do, once, right after it starts. */
export interface WorkerPlan {
  readonly worker: number;
  readonly layout: Layout;
  readonly protocol: string;
  /** What subscribers and chat members connect over; publishers of fanout and cross-node use WebSocket. */
  readonly transport: Transport;
  /** New connections per second for this worker. */
  readonly rampRate: number;
  /** Publications per second for each publisher (lane), or "max". */
  readonly laneRate: number | "max";
  /** Delay of this worker's first publication after the run's start, in µs, so that the workers' publishers interleave (see publishOffsetUs). */
  readonly publishOffsetUs: number;
  readonly window: number;
  readonly payloadBytes: number;
  readonly apiUrl: string | undefined;
  readonly apiKey: string | undefined;
  /** With protocol "pusher": the app to publish for (signs Pusher HTTP API requests). */
  readonly pusherApp: PusherApp | undefined;
}

/** Coordinator → worker. */
export type ToWorker =
  | { type: "plan"; plan: WorkerPlan }
  /** Publish from `startAtUs` to `stopAtUs`; latencies of publications sent from `measureFromUs` on are recorded. */
  | { type: "run"; startAtUs: number; measureFromUs: number; stopAtUs: number }
  /** Coarse back-pressure for rate "max": subscribers are behind. */
  | { type: "pause"; paused: boolean }
  /** Report the final counts, close every connection and exit. */
  | { type: "finish" };

/** Counters a worker reports; all cumulative since it started. */
export interface WorkerCounters {
  /** Connections started (first attempts). */
  attempted: number;
  /** Connections connected and subscribed now. */
  ready: number;
  /** Connections that never became ready. */
  failed: number;
  /** Ready connections that closed before the end. */
  dropped: number;
  /** Connection attempts repeated because the server asked to try later. */
  retries: number;
  /** Publication messages received by subscribers. */
  deliveries: number;
  /** Deliveries of publications sent inside the measured window. */
  measuredDeliveries: number;
  /** Publications sent. */
  published: number;
  /** Publications sent inside the measured window. */
  measuredPublished: number;
  /** Publish commands refused by the server, or not sent because the publisher was down. */
  publishErrors: number;
  duplicates: number;
  outOfOrder: number;
  /** Gaps in sequence numbers seen by subscribers (not counting losses at the end of the run). */
  gaps: number;
  /** CPU time (user + system) the worker process has used, µs. */
  cpuMicros: number;
}

/** Failure counts by reason, e.g. `ECONNREFUSED` or `closed 3003 slow_consumer`. */
export type ReasonCounts = Record<string, number>;

/** Worker → coordinator, every 250 ms. */
export interface WorkerProgress {
  type: "progress";
  worker: number;
  counters: WorkerCounters;
  /** Latencies recorded since the previous progress message (corrected for coordinated omission). */
  latency: HistogramSnapshot;
  failures: ReasonCounts;
  drops: ReasonCounts;
  publishFailures: ReasonCounts;
}

/** Worker → coordinator, once at the end. */
export interface WorkerFinal {
  type: "final";
  worker: number;
  counters: WorkerCounters;
  failures: ReasonCounts;
  drops: ReasonCounts;
  publishFailures: ReasonCounts;
  /** Latencies in µs, with and without the coordinated-omission correction. */
  latency: HistogramSnapshot;
  latencyUncorrected: HistogramSnapshot;
  /** Time from starting a connection to its being subscribed (or connected), in µs. */
  connectTimes: HistogramSnapshot;
  /** `[channel, subscribers ready when publishing started, …]`. */
  channelSubscribers: number[];
  /** `[channel, publications sent, …]`. */
  channelPublished: number[];
}

/** Worker → coordinator. */
export type FromWorker =
  | WorkerProgress
  /** Every connection of the worker is ready or has failed. */
  | { type: "settled"; worker: number }
  | WorkerFinal
  /** The worker cannot go on; the message says what to fix. */
  | { type: "fatal"; worker: number; message: string };

/** Counters at zero. */
export function zeroCounters(): WorkerCounters {
  return {
    attempted: 0,
    ready: 0,
    failed: 0,
    dropped: 0,
    retries: 0,
    deliveries: 0,
    measuredDeliveries: 0,
    published: 0,
    measuredPublished: 0,
    publishErrors: 0,
    duplicates: 0,
    outOfOrder: 0,
    gaps: 0,
    cpuMicros: 0,
  };
}

/** Adds `b` into `a`. */
export function addCounters(a: WorkerCounters, b: WorkerCounters): void {
  for (const key of Object.keys(a) as (keyof WorkerCounters)[]) a[key] += b[key];
}

/** Adds reason counts `b` into `a`. */
export function addReasons(a: ReasonCounts, b: ReasonCounts): void {
  for (const [reason, n] of Object.entries(b)) a[reason] = (a[reason] ?? 0) + n;
}
