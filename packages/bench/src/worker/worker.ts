import { EmulationSender } from "../emulation/sender.js";
import { Histogram } from "../histogram.js";
import { zeroCounters } from "../ipc.js";
import type { FromWorker, ReasonCounts, WorkerFinal, WorkerPlan } from "../ipc.js";
import {
  channelName,
  connectionSpec,
  lanesPerChannel,
  publisherSpec,
  workerConnections,
  workerPublishers,
} from "../layout.js";
import { nowUs } from "../payload.js";
import { adapterByName, incomingFrame } from "../peers/index.js";
import type { ProtocolAdapter } from "../peers/index.js";
import { SequenceCounter } from "../sequence.js";
import { Transport } from "../transport.js";
import { parseWsTarget } from "../ws/handshake.js";
import type { WsTarget } from "../ws/handshake.js";
import { BenchConnection } from "./connection.js";
import type { ConnectionHost } from "./connection.js";
import { ApiClient, ApiLane, MAX_API_LANE_QUEUE, PublishScheduler } from "./publisher.js";
import type { ApiAnswers, PublishEvents, PublishLane } from "./publisher.js";

/** Handshakes a worker keeps in progress at most, so a fast ramp does not flood the listen queue. */
const MAX_CONCURRENT_HANDSHAKES = 1_000;
const RAMP_TICK_MS = 10;
const PROGRESS_INTERVAL_MS = 250;

function bump(counts: ReasonCounts, reason: string): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}

/**
 * One client process's share of the run: ramps its connections, publishes on its lanes,
 * records latencies and sequence anomalies, and reports to the coordinator through `send`.
 */
export class BenchWorker implements ConnectionHost, PublishEvents, ApiAnswers {
  readonly adapter: ProtocolAdapter;
  readonly incoming = incomingFrame();
  readonly sender = new EmulationSender();
  private readonly targets = new Map<string, WsTarget>();
  private readonly channelNames = new Map<number, string>();
  private readonly counters = zeroCounters();
  private readonly failures: ReasonCounts = {};
  private readonly drops: ReasonCounts = {};
  private readonly publishFailures: ReasonCounts = {};
  private readonly latencyDelta = new Histogram();
  private readonly latencyUncorrected = new Histogram();
  private readonly connectTimes = new Histogram();
  private readonly sequences: SequenceCounter;
  private readonly lanes: number;
  private readonly connections: BenchConnection[] = [];
  private readonly publishLanes: PublishLane[] = [];
  private readonly scheduler: PublishScheduler;
  private readonly channelPublished = new Map<number, number>();
  private readonly channelSubscribers = new Map<number, number>();
  private readonly api: ApiClient | undefined;
  private started = 0;
  private inHandshake = 0;
  private settledSent = false;
  private fatalSent = false;
  private rampStartUs = 0;
  private rampTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private measureFromUs = Number.POSITIVE_INFINITY;
  private stopAtUs = Number.POSITIVE_INFINITY;
  private readonly expectedIntervalUs: number;

  constructor(
    private readonly plan: WorkerPlan,
    private readonly send: (message: FromWorker) => void,
  ) {
    const { layout } = plan;
    this.adapter = adapterByName(plan.protocol);
    this.lanes = lanesPerChannel(layout);
    this.expectedIntervalUs = plan.laneRate === "max" ? 0 : 1e6 / plan.laneRate;
    this.api =
      plan.apiUrl !== undefined
        ? new ApiClient(plan.apiUrl, { apiKey: plan.apiKey, pusherApp: plan.pusherApp }, this.adapter)
        : undefined;
    for (const j of workerPublishers(layout, plan.worker)) {
      const spec = publisherSpec(layout, j);
      if (this.api !== undefined) {
        this.publishLanes.push(new ApiLane(spec.lane, spec, this.channelName(spec.publishChannel), this.api, this));
      } else {
        // Publishers stay on WebSocket: the run measures delivery over the transport under test.
        const conn = new BenchConnection(this, spec, -1, Transport.websocket);
        this.connections.push(conn);
        this.publishLanes.push(conn);
      }
    }
    let subscribers = 0;
    for (const i of workerConnections(layout, plan.worker)) {
      const spec = connectionSpec(layout, i);
      const slotBase = spec.subscribeChannel >= 0 && this.lanes > 0 ? subscribers++ * this.lanes : -1;
      const conn = new BenchConnection(this, spec, slotBase, plan.transport);
      this.connections.push(conn);
      if (spec.publishChannel >= 0) this.publishLanes.push(conn);
    }
    this.sequences = new SequenceCounter(subscribers * this.lanes);
    this.scheduler = new PublishScheduler(
      this.publishLanes,
      { laneRate: plan.laneRate, window: plan.window, payloadBytes: plan.payloadBytes },
      this,
    );
  }

  /** Starts the ramp and the progress reports. */
  start(): void {
    this.rampStartUs = nowUs();
    this.rampTimer = setInterval(() => this.rampTick(), RAMP_TICK_MS);
    this.progressTimer = setInterval(() => this.send(this.progress()), PROGRESS_INTERVAL_MS);
    this.rampTick();
  }

  /** Publishes between the given times; latencies count from `measureFromUs`. */
  run(startAtUs: number, measureFromUs: number, stopAtUs: number): void {
    this.measureFromUs = measureFromUs;
    this.stopAtUs = stopAtUs;
    for (const conn of this.connections) {
      if (conn.isReady && conn.spec.subscribeChannel >= 0) {
        const c = conn.spec.subscribeChannel;
        this.channelSubscribers.set(c, (this.channelSubscribers.get(c) ?? 0) + 1);
      }
    }
    this.scheduler.run(startAtUs + this.plan.publishOffsetUs, stopAtUs);
  }

  /** Coarse back-pressure from the coordinator (rate "max"). */
  pause(paused: boolean): void {
    this.scheduler.setPaused(paused);
  }

  /** Stops publishing, ramping and reporting progress, and returns the final report; {@link closeAll} ends the connections. */
  finish(): WorkerFinal {
    this.scheduler.stop();
    if (this.rampTimer !== undefined) clearInterval(this.rampTimer);
    if (this.progressTimer !== undefined) clearInterval(this.progressTimer);
    return this.final();
  }

  /** Closes every connection (after {@link finish}). */
  closeAll(): void {
    for (const conn of this.connections) conn.close();
    this.api?.close();
    this.sender.close();
  }

  private rampTick(): void {
    const total = this.connections.length;
    const due = Math.min(total, Math.floor(((nowUs() - this.rampStartUs) / 1e6) * this.plan.rampRate) + 1);
    while (this.started < due && this.inHandshake < MAX_CONCURRENT_HANDSHAKES) {
      const conn = this.connections[this.started++] as BenchConnection;
      conn.startedUs = nowUs();
      this.counters.attempted += 1;
      this.inHandshake += 1;
      conn.start();
    }
    if (this.started >= total && this.rampTimer !== undefined) {
      clearInterval(this.rampTimer);
      this.rampTimer = undefined;
    }
    this.checkSettled();
  }

  private checkSettled(): void {
    if (this.settledSent || this.started < this.connections.length || this.inHandshake > 0) return;
    this.settledSent = true;
    this.send(this.progress());
    this.send({ type: "settled", worker: this.plan.worker });
  }

  target(url: string): WsTarget {
    let t = this.targets.get(url);
    if (t === undefined) {
      t = parseWsTarget(url);
      this.targets.set(url, t);
    }
    return t;
  }

  channelName(channel: number): string {
    let name = this.channelNames.get(channel);
    if (name === undefined) {
      name = channelName(this.plan.layout, channel);
      this.channelNames.set(channel, name);
    }
    return name;
  }

  onReady(conn: BenchConnection): void {
    this.counters.ready += 1;
    this.inHandshake -= 1;
    this.connectTimes.record(nowUs() - conn.startedUs);
    this.checkSettled();
  }

  onFailed(_conn: BenchConnection, reason: string, hint: string | undefined): void {
    this.counters.failed += 1;
    this.inHandshake -= 1;
    bump(this.failures, reason);
    if (hint !== undefined) this.fatal(`${reason}: ${hint}`);
    this.checkSettled();
  }

  onRetry(conn: BenchConnection, delayMs: number): void {
    this.counters.retries += 1;
    // Jitter as the SDK does, so retried connections do not come back in one burst.
    setTimeout(() => conn.start(), delayMs + Math.random() * delayMs);
  }

  onDropped(_conn: BenchConnection, reason: string): void {
    this.counters.ready -= 1;
    this.counters.dropped += 1;
    bump(this.drops, reason);
  }

  onPublication(conn: BenchConnection): void {
    const f = this.incoming;
    this.counters.deliveries += 1;
    if (f.lane < this.lanes) this.sequences.record(conn.slotBase + f.lane, f.seq);
    if (f.sentAtUs >= this.measureFromUs && f.sentAtUs < this.stopAtUs) {
      this.counters.measuredDeliveries += 1;
      const latency = nowUs() - f.sentAtUs;
      this.latencyDelta.recordWithExpectedInterval(latency, this.expectedIntervalUs);
      this.latencyUncorrected.record(latency);
    }
  }

  onPublishAck(conn: BenchConnection, error: string | undefined, hint: string | undefined): void {
    this.answered(conn, error, hint);
  }

  onApiAnswer(lane: ApiLane, error: string | undefined): void {
    this.answered(lane, error, undefined);
  }

  private answered(lane: PublishLane, error: string | undefined, hint: string | undefined): void {
    if (error !== undefined) {
      // A refused publication reaches nobody: take it out of the channel's expected deliveries.
      const c = lane.spec.publishChannel;
      this.channelPublished.set(c, (this.channelPublished.get(c) ?? 0) - 1);
      this.counters.publishErrors += 1;
      bump(this.publishFailures, hint === undefined ? error : `${error} (${hint})`);
      if (hint !== undefined && !/ error 112:/.test(error)) this.fatal(`${error}: ${hint}`);
    }
    this.scheduler.onAnswered(lane);
  }

  onSent(lane: PublishLane, sentAtUs: number): void {
    this.counters.published += 1;
    if (sentAtUs >= this.measureFromUs) this.counters.measuredPublished += 1;
    const c = lane.spec.publishChannel;
    this.channelPublished.set(c, (this.channelPublished.get(c) ?? 0) + 1);
  }

  onSkipped(lane: PublishLane): void {
    this.counters.publishErrors += 1;
    bump(
      this.publishFailures,
      lane instanceof ApiLane && lane.backlogged
        ? `API publisher ${MAX_API_LANE_QUEUE} requests behind (the server answers slower than --rate)`
        : "publisher not connected",
    );
  }

  private fatal(message: string): void {
    if (this.fatalSent) return;
    this.fatalSent = true;
    this.send({ type: "fatal", worker: this.plan.worker, message });
  }

  private syncSequenceCounters(): void {
    const cpu = process.cpuUsage();
    this.counters.cpuMicros = cpu.user + cpu.system;
    this.counters.duplicates = this.sequences.duplicates;
    this.counters.outOfOrder = this.sequences.outOfOrder;
    this.counters.gaps = this.sequences.missing;
  }

  private progress(): FromWorker {
    this.syncSequenceCounters();
    const latency = this.latencyDelta.snapshot();
    this.latencyDelta.reset();
    return {
      type: "progress",
      worker: this.plan.worker,
      counters: { ...this.counters },
      latency,
      failures: { ...this.failures },
      drops: { ...this.drops },
      publishFailures: { ...this.publishFailures },
    };
  }

  private final(): WorkerFinal {
    this.syncSequenceCounters();
    const pairs = (m: Map<number, number>): number[] => [...m].flat();
    const final: WorkerFinal = {
      type: "final",
      worker: this.plan.worker,
      counters: { ...this.counters },
      failures: { ...this.failures },
      drops: { ...this.drops },
      publishFailures: { ...this.publishFailures },
      latency: this.latencyDelta.snapshot(),
      latencyUncorrected: this.latencyUncorrected.snapshot(),
      connectTimes: this.connectTimes.snapshot(),
      channelSubscribers: pairs(this.channelSubscribers),
      channelPublished: pairs(this.channelPublished),
    };
    this.latencyDelta.reset();
    return final;
  }
}
