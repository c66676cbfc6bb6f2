import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryEngine } from "./engine/memory.js";
import { PublishFailure } from "./publish-failure.js";
import { Publisher } from "./publishing.js";
import { RateLimitedLog } from "./rate-limited-log.js";

const HISTORY = { size: 10, ttlMs: 60_000, metaTtlMs: 600_000 };
const data = new TextEncoder().encode("1");
/** Timing passes through; failures are recorded by kind. */
function recordingMetrics(): {
  timePublish<T>(source: unknown, publish: Promise<T>): Promise<T>;
  publishFailed(kind: string): void;
  failures: string[];
} {
  const failures: string[] = [];
  return { timePublish: (_source, publish) => publish, publishFailed: (kind) => failures.push(kind), failures };
}

/** A logger whose lines are collected as parsed objects. */
function collectingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "warn" }, sink), lines };
}

describe("RateLimitedLog", () => {
  it("writes the first failure at once, then one line per interval counting the failures since", () => {
    let now = 0;
    const { logger, lines } = collectingLogger();
    const log = new RateLimitedLog(logger, "failing", 10_000, () => now);
    for (; now < 10_000; now += 1_000) log.failure(new Error("down"));
    expect(lines.map((l) => l["count"])).toEqual([1]);
    log.failure(new Error("down")); // now = 10_000: due
    expect(lines.map((l) => l["count"])).toEqual([1, 10]);
    expect(lines[1]).toMatchObject({ level: 40, msg: "failing", intervalMs: 10_000, err: { message: "down" } });
  });
});

describe("Publisher", () => {
  it("sets a deadline publishTimeoutMs ahead: an engine that gets it later refuses it as expired, and nothing is kept", async () => {
    // The engine's clock runs 5 s ahead of the node's: every publish reaches it after a 1 s deadline.
    const engine = new MemoryEngine({ now: () => Date.now() + 5_000 });
    const { logger, lines } = collectingLogger();
    const metrics = recordingMetrics();
    const publisher = new Publisher(engine, metrics, 1_000, logger);
    try {
      for (let i = 0; i < 20; i++) {
        const failure: unknown = await publisher
          .publish("api", { channel: "c", data }, HISTORY, "k")
          .catch((err: unknown) => err);
        expect(failure).toBeInstanceOf(PublishFailure);
        expect(failure).toMatchObject({ kind: "expired" });
      }
      expect((await engine.history.read("c", { limit: 10 }, HISTORY)).publications).toEqual([]);
      expect(metrics.failures).toEqual(Array(20).fill("expired"));
      // Twenty failures within the interval: one line.
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ msg: "publishes are failing", kind: "expired", source: "api", count: 1 });
    } finally {
      await engine.close();
    }
  });

  it("passes the key: a repeated key returns the first position", async () => {
    const engine = new MemoryEngine();
    const publisher = new Publisher(engine, recordingMetrics(), 1_000, pino({ level: "silent" }));
    try {
      const first = await publisher.publish("client", { channel: "c", data }, HISTORY, "k");
      expect(await publisher.publish("client", { channel: "c", data }, HISTORY, "k")).toEqual(first);
      expect((await publisher.publish("client", { channel: "c", data }, HISTORY))?.offset).toBe(2);
    } finally {
      await engine.close();
    }
  });
});
