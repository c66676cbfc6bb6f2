import { MemoryEngine } from "../../packages/server/src/engine/memory.js";
import type { HistoryStore } from "../../packages/server/src/history/history.js";

/**
 * A real memory engine whose history reads are held at a gate, before or after reading, so a
 * test can hold a subscribe mid-flight while publications, unsubscribes or closes happen.
 */
export function gatedHistoryEngine(when: "before read" | "after read"): {
  engine: MemoryEngine;
  readStarted: Promise<void>;
  open: () => void;
} {
  const engine = new MemoryEngine();
  const real = engine.history;
  let open!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const readStarted = new Promise<void>((resolve) => (started = resolve));
  const gated: HistoryStore = {
    read: async (...args) => {
      started();
      if (when === "before read") await gate;
      const page = await real.read(...args);
      await gate;
      return page;
    },
    remove: (channel) => real.remove(channel),
  };
  Object.defineProperty(engine, "history", { value: gated });
  return { engine, readStarted, open };
}
