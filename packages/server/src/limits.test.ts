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

  it("is at rest, as a new one would be, once its bucket is full and no refusal counts", () => {
    const limit = new CommandRateLimit(10, 2, 3, 0); // a token every 100 ms, 2 at most
    expect(limit.atRest(0)).toBe(true);
    limit.check(0);
    expect(limit.atRest(0)).toBe(false);
    expect(limit.atRest(100)).toBe(true); // refilled
    limit.check(100);
    limit.check(100);
    expect(limit.check(100)).toBe("refuse");
    // Full again after 200 ms, but the refusal still counts in its window: dropping it now
    // would let a client reset its count by pausing.
    expect(limit.atRest(300)).toBe(false);
    expect(limit.atRest(100 + RATE_LIMIT_WINDOW_MS)).toBe(true);
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
