import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { Histogram } from "../histogram.js";
import { addCounters, addReasons, zeroCounters } from "../ipc.js";
import type { FromWorker, ReasonCounts, ToWorker, WorkerCounters, WorkerFinal, WorkerPlan } from "../ipc.js";

/** The built worker entry, beside this file's folder. */
export const WORKER_ENTRY = new URL("../worker/main.js", import.meta.url);

/** Sums of every worker's latest report. */
export interface PoolTotals {
  counters: WorkerCounters;
  failures: ReasonCounts;
  drops: ReasonCounts;
  publishFailures: ReasonCounts;
}

/**
 * The worker processes of a run: forks them, hands out plans, keeps each one's latest
 * counters, merges their latency reports, and collects their final reports.
 */
export class WorkerPool {
  private readonly children: ChildProcess[] = [];
  private readonly latest = new Map<number, FromWorker & { type: "progress" }>();
  private readonly settled = new Set<number>();
  private readonly finals = new Map<number, WorkerFinal>();
  /** Every latency reported so far (corrected, measured window), merged. */
  readonly latency = new Histogram();
  /** Latencies reported since {@link takeInterval} was last called. */
  private interval = new Histogram();
  /** Set when a worker reported a fatal problem or died; the run should stop. */
  failure: string | undefined;

  constructor(plans: readonly WorkerPlan[], entry: URL = WORKER_ENTRY) {
    for (const plan of plans) {
      // Workers inherit stderr (so a crash shows) but not stdin/stdout.
      const child = fork(entry, [], { stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "json" });
      child.on("message", (message: FromWorker) => this.onMessage(message));
      child.on("exit", (code, signal) => {
        if (!this.finals.has(plan.worker) && this.failure === undefined) {
          this.failure = `worker ${plan.worker} exited (${signal ?? `code ${code}`}) before the run ended`;
        }
      });
      child.on("error", (err) => {
        this.failure ??= `worker ${plan.worker} failed: ${err.message}`;
      });
      child.send({ type: "plan", plan } satisfies ToWorker);
      this.children.push(child);
    }
  }

  private onMessage(message: FromWorker): void {
    switch (message.type) {
      case "progress":
        this.latest.set(message.worker, message);
        this.latency.addSnapshot(message.latency);
        this.interval.addSnapshot(message.latency);
        return;
      case "settled":
        this.settled.add(message.worker);
        return;
      case "final":
        this.finals.set(message.worker, message);
        this.latency.addSnapshot(message.latency);
        this.interval.addSnapshot(message.latency);
        return;
      case "fatal":
        this.failure ??= message.message;
        return;
    }
  }

  /** True once every worker has every connection ready or failed. */
  get allSettled(): boolean {
    return this.settled.size === this.children.length;
  }

  /** Sums of the latest counters. */
  totals(): PoolTotals {
    const totals: PoolTotals = { counters: zeroCounters(), failures: {}, drops: {}, publishFailures: {} };
    const reports: {
      counters: WorkerCounters;
      failures: ReasonCounts;
      drops: ReasonCounts;
      publishFailures: ReasonCounts;
    }[] = this.finals.size === this.children.length ? [...this.finals.values()] : [...this.latest.values()];
    for (const r of reports) {
      addCounters(totals.counters, r.counters);
      addReasons(totals.failures, r.failures);
      addReasons(totals.drops, r.drops);
      addReasons(totals.publishFailures, r.publishFailures);
    }
    return totals;
  }

  /** Latencies reported since the previous call, as a histogram of their own. */
  takeInterval(): Histogram {
    const h = this.interval;
    this.interval = new Histogram();
    return h;
  }

  /** Sends `message` to every worker. */
  broadcast(message: ToWorker): void {
    for (const child of this.children) if (child.connected) child.send(message);
  }

  /**
   * Asks every worker to finish and resolves with their final reports (those that answered
   * within `timeoutMs`); workers that do not answer are killed.
   */
  async finish(timeoutMs: number): Promise<WorkerFinal[]> {
    this.broadcast({ type: "finish" });
    const deadline = Date.now() + timeoutMs;
    while (this.finals.size < this.children.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const exits = this.children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          setTimeout(() => child.kill("SIGKILL"), 3_000).unref();
        }),
    );
    await Promise.all(exits);
    return [...this.finals.values()];
  }

  /** Kills every worker at once (after an error). */
  kill(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill("SIGKILL");
  }
}
