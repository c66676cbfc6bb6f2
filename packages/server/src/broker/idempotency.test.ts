import { describe, expect, it } from "vitest";
import { IdempotencyKeys } from "./idempotency.js";

const at = (offset: number) => ({ offset, epoch: "e" });

describe("IdempotencyKeys", () => {
  it("remembers a key per channel for the window, by the given clock", () => {
    let now = 0;
    const keys = new IdempotencyKeys(1_000, () => now);
    keys.record("a", "k", at(1));
    expect(keys.lookup("a", "k")).toEqual({ position: at(1) });
    expect(keys.lookup("b", "k")).toBe("none");
    now = 999;
    expect(keys.lookup("a", "k")).toEqual({ position: at(1) });
    now = 1_000;
    expect(keys.lookup("a", "k")).toBe("none");
  });

  it("tells channel and key apart however they are split", () => {
    const keys = new IdempotencyKeys(1_000, () => 0);
    keys.record("ab", "c", at(1));
    expect(keys.lookup("a", "bc")).toBe("none");
  });

  it("forgets expired keys as new ones come, and the oldest past maxKeys", () => {
    let now = 0;
    const keys = new IdempotencyKeys(1_000, () => now, 3);
    for (let i = 0; i < 5; i++) keys.record("c", `k${i}`, undefined);
    expect(keys.size).toBe(3);
    expect(keys.lookup("c", "k1")).toBe("none");
    expect(keys.lookup("c", "k4")).toEqual({ position: undefined });
    now = 2_000;
    keys.record("c", "fresh", undefined);
    expect(keys.size).toBe(1);
  });
});
