import { describe, expect, it } from "vitest";
import { CommandRateLimit, ConnectionCounter, RATE_LIMIT_WINDOW_MS, TokenBucket } from "./limits.js";

describe("TokenBucket", () => {
  it("allows a burst, then the rate, and says how long to wait", () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.waitMs(0)).toBe(100);
    expect(bucket.take(99)).toBe(false);
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(10_000) && bucket.take(10_000) && bucket.take(10_000)).toBe(true);
    expect(bucket.take(10_000)).toBe(false); // refills to the burst, not beyond
  });
});

describe("CommandRateLimit", () => {
  it("refuses over the rate and disconnects after too many refusals in a window", () => {
    const limit = new CommandRateLimit(1, 2, 3, 0);
    expect([limit.check(0), limit.check(0)]).toEqual(["ok", "ok"]);
    expect([limit.check(1), limit.check(2), limit.check(3)]).toEqual(["refuse", "refuse", "refuse"]);
    expect(limit.check(4)).toBe("disconnect");
  });

  it("forgets refusals once the window has passed", () => {
    const limit = new CommandRateLimit(1, 1, 2, 0);
    limit.check(0);
    expect([limit.check(1), limit.check(2)]).toEqual(["refuse", "refuse"]);
    expect(limit.check(RATE_LIMIT_WINDOW_MS + 1)).toBe("ok");
    expect(limit.check(RATE_LIMIT_WINDOW_MS + 2)).toBe("refuse");
  });
});

describe("ConnectionCounter", () => {
  it("counts per key and forgets keys at zero", () => {
    const counter = new ConnectionCounter();
    counter.add("alice");
    counter.add("alice");
    counter.remove("alice");
    expect(counter.count("alice")).toBe(1);
    counter.remove("alice");
    expect(counter.count("alice")).toBe(0);
  });
});
