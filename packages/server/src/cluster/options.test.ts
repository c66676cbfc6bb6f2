import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { resolveNodeOptions } from "../options.js";
import { OptionError } from "../validation.js";
import { workerCount } from "./primary.js";

describe("cluster options", () => {
  it("defaults to one process, round-robin, stats every 10 s", () => {
    const o = resolveNodeOptions({});
    expect([o.workers, o.balancing, o.workerStatsIntervalMs]).toEqual(["1", "round-robin", 10_000]);
    expect(workerCount(o.workers)).toBe(1);
  });

  it("takes a number of workers as text or (from a config file) as a number, and auto as one per core", () => {
    expect(resolveNodeOptions({ workers: "4" }).workers).toBe("4");
    expect(resolveNodeOptions(JSON.parse('{"workers": 3}') as object).workers).toBe("3");
    expect(workerCount(resolveNodeOptions({ workers: "auto" }).workers)).toBe(availableParallelism());
  });

  it("refuses workers that are not a positive whole number or auto, and unknown balancing", () => {
    for (const workers of ["0", "-1", "1.5", "two", "", "1025"]) {
      expect(() => resolveNodeOptions({ workers }), workers).toThrow(OptionError);
    }
    expect(() => resolveNodeOptions({ workers: "0" })).toThrow(
      'workers: must be "auto" or a whole number from 1 to 1024, got "0"',
    );
    expect(() => resolveNodeOptions({ balancing: "random" })).toThrow(
      "balancing: must be one of round-robin, least-connections",
    );
    expect(() => resolveNodeOptions({ workerStatsIntervalMs: -1 })).toThrow(OptionError);
  });
});
