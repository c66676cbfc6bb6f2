import { describe, expect, it } from "vitest";
import { LoginLimiter } from "./login-limits.js";

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

describe("LoginLimiter", () => {
  it("refuses an address after 5 failures within a minute, until the oldest leaves the window", () => {
    const t = clock();
    const limiter = new LoginLimiter({ now: t.now });
    for (let i = 0; i < 5; i++) {
      expect(limiter.retryAfterMs("a")).toBe(0);
      limiter.failed("a");
      t.advance(1_000);
    }
    expect(limiter.retryAfterMs("a")).toBe(55_000);
    expect(limiter.retryAfterMs("b")).toBe(0);
    t.advance(55_000);
    expect(limiter.retryAfterMs("a")).toBe(0);
  });

  it("refuses every address after 30 failures on the node within a minute", () => {
    const t = clock();
    const limiter = new LoginLimiter({ now: t.now });
    for (let i = 0; i < 30; i++) limiter.failed(`address-${i}`);
    expect(limiter.retryAfterMs("someone-new")).toBe(60_000);
    t.advance(60_000);
    expect(limiter.retryAfterMs("someone-new")).toBe(0);
  });

  it("forgets an address's failures when it logs in, but not the node's", () => {
    const t = clock();
    const limiter = new LoginLimiter({ now: t.now, perNode: 6 });
    for (let i = 0; i < 4; i++) limiter.failed("a");
    limiter.succeeded("a");
    limiter.failed("a");
    expect(limiter.retryAfterMs("a")).toBe(0);
    limiter.failed("a");
    expect(limiter.retryAfterMs("b")).toBe(60_000);
  });

  it("holds a bounded number of addresses and forgets those whose failures left the window", () => {
    const t = clock();
    const limiter = new LoginLimiter({ now: t.now, perNode: 1_000_000, maxAddresses: 100 });
    for (let i = 0; i < 1_000; i++) limiter.failed(`address-${i}`);
    expect(limiter.size).toBe(100);
    t.advance(60_000);
    limiter.failed("latest");
    expect(limiter.size).toBe(1);
  });
});
