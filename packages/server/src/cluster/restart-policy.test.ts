import { describe, expect, it } from "vitest";
import { CrashHistory } from "./restart-policy.js";

describe("worker restart policy", () => {
  it("backs off exponentially and gives up on the sixth crash within 60 s", () => {
    let now = 0;
    const history = new CrashHistory({}, () => now);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const decision = history.record();
      if (decision.giveUp) throw new Error(`gave up after ${decision.crashes}`);
      delays.push(decision.delayMs);
      now += 1_000;
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_600]);
    expect(history.record()).toEqual({ giveUp: true, crashes: 6 });
  });

  it("forgets crashes older than the window, so an occasional crash restarts quickly", () => {
    let now = 0;
    const history = new CrashHistory({ maxCrashes: 2, windowMs: 10_000 }, () => now);
    expect(history.record()).toEqual({ giveUp: false, delayMs: 100, crashes: 1 });
    now = 9_999;
    expect(history.record()).toEqual({ giveUp: false, delayMs: 200, crashes: 2 });
    now = 10_000; // the first crash leaves the window
    expect(history.record()).toEqual({ giveUp: false, delayMs: 200, crashes: 2 });
    now = 30_000;
    expect(history.record()).toEqual({ giveUp: false, delayMs: 100, crashes: 1 });
  });

  it("caps the delay", () => {
    const history = new CrashHistory({ maxCrashes: 100, baseDelayMs: 1_000, maxDelayMs: 5_000 }, () => 0);
    const delays = Array.from({ length: 5 }, () => history.record()).map((d) => (d.giveUp ? -1 : d.delayMs));
    expect(delays).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });
});
