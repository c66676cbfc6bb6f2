import { defineConfig } from "vitest/config";

const ALL = ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"];
const INTEGRATION = "**/*.int.test.ts";

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    // Integration tests start real processes and many assert timing bounds (liveness, drains,
    // TTLs, RSS). Two files at once on two cores starved each other's bounds, so files run one
    // at a time.
    maxWorkers: 1,
    projects: [
      {
        extends: true,
        // Unit tests hold no process-wide state between files, so they share one process: a
        // fresh process and fresh imports per file cost 55 s of the suite's time, shared 19 s.
        test: { name: "unit", include: ALL, exclude: [INTEGRATION, "**/node_modules/**"], isolate: false },
      },
      {
        extends: true,
        // Each integration file gets a process of its own: they start servers, change
        // process-wide settings and measure memory.
        test: {
          name: "integration",
          include: ["packages/*/src/**/*.int.test.ts", "test/**/*.int.test.ts"],
        },
      },
    ],
  },
});
