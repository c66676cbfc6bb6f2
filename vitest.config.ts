import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    // Integration tests start real processes and many assert timing bounds (liveness, drains,
    // TTLs, RSS). Two files at once on two cores starved each other's bounds, so files run one
    // at a time; the suite still takes well under the 15-minute budget.
    maxWorkers: 1,
  },
});
