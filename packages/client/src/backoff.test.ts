import { describe, expect, it } from "vitest";
import { Backoff, backoffDelayMs } from "./backoff.js";

const opts = { minDelayMs: 100, maxDelayMs: 1000 };

describe("backoffDelayMs", () => {
  it("is random() times the window, so the bounds are 0 and the window", () => {
    expect(backoffDelayMs(0, { ...opts, random: () => 0 })).toBe(0);
    expect(backoffDelayMs(0, { ...opts, random: () => 0.5 })).toBe(50);
    expect(backoffDelayMs(2, { ...opts, random: () => 0.999 })).toBeCloseTo(399.6);
  });

  it("doubles the window per attempt", () => {
    const random = (): number => 1;
    expect([0, 1, 2, 3].map((attempt) => backoffDelayMs(attempt, { ...opts, random }))).toEqual([100, 200, 400, 800]);
  });

  it("caps the window at maxDelayMs, even for huge attempts", () => {
    const random = (): number => 1;
    expect(backoffDelayMs(4, { ...opts, random })).toBe(1000);
    expect(backoffDelayMs(10_000, { ...opts, random })).toBe(1000);
    expect(backoffDelayMs(Number.MAX_SAFE_INTEGER, { minDelayMs: 0, maxDelayMs: 10, random })).toBe(0);
  });

  it("stays within [0, window) for Math.random", () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const window = Math.min(opts.maxDelayMs, opts.minDelayMs * 2 ** attempt);
      const delay = backoffDelayMs(attempt, opts);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(window);
    }
  });
});

describe("Backoff", () => {
  it("widens on every next() and starts over after reset()", () => {
    const backoff = new Backoff({ ...opts, random: () => 1 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([100, 200, 400]);
    expect(backoff.attempt).toBe(3);
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(100);
  });

  it("draws one random number per delay from the injected source", () => {
    const draws = [0.25, 0.5, 0.75];
    let calls = 0;
    const backoff = new Backoff({ ...opts, random: () => draws[calls++] ?? 0 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([25, 100, 300]);
    expect(calls).toBe(3);
  });
});
