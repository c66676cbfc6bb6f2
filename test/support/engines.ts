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

/**
 * A real memory engine whose broker holds every join and leave published until `release()`,
 * which delivers all held ones at once, in order, within one turn of the event loop: a test
 * decides which changes fall into one period of the node's join/leave timer.
 */
export function gatedJoinLeaveEngine(): { engine: MemoryEngine; held: () => number; release: () => void } {
  const engine = new MemoryEngine();
  const broker = engine.broker;
  const realJoin = broker.publishJoin.bind(broker);
  const realLeave = broker.publishLeave.bind(broker);
  let queue: (() => void)[] = [];
  const hold = (publish: () => Promise<void>): Promise<void> =>
    new Promise((resolve, reject) => queue.push(() => void publish().then(resolve, reject)));
  broker.publishJoin = (channel, info) => hold(() => realJoin(channel, info));
  broker.publishLeave = (channel, info) => hold(() => realLeave(channel, info));
  return {
    engine,
    held: () => queue.length,
    release: () => {
      const held = queue;
      queue = [];
      for (const publish of held) publish();
    },
  };
}
