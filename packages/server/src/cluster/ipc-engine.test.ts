import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { brokerContract } from "../broker/broker.contract.js";
import { MemoryEngine } from "../engine/memory.js";
import { presenceContract } from "../presence/presence.contract.js";
import { registryContract } from "../registry/registry.contract.js";
import { RelayClosedError, RelayTimeoutError } from "./errors.js";
import { IpcEngine } from "./ipc-engine.js";
import { linkedPair } from "./relay-link.js";
import type { RelayLink } from "./relay-link.js";
import { EngineRelay } from "./relay.js";

const logger = pino({ level: "silent" });

/** A relay over a real MemoryEngine and `count` IpcEngines linked to it in this process. */
async function relayed(
  count: number,
  idempotencyWindowMs?: number,
): Promise<{ relay: EngineRelay; engines: IpcEngine[]; close(): Promise<void> }> {
  const relay = new EngineRelay(new MemoryEngine({ idempotencyWindowMs }), logger);
  await relay.start();
  const engines = Array.from({ length: count }, () => {
    const [workerEnd, primaryEnd] = linkedPair();
    relay.attach(primaryEnd);
    return new IpcEngine(workerEnd);
  });
  const close = async (): Promise<void> => {
    await Promise.all(engines.map((e) => e.close()));
    await relay.close();
  };
  return { relay, engines, close };
}

async function one(idempotencyWindowMs?: number): Promise<{ engine: IpcEngine; close(): Promise<void> }> {
  const { engines, close } = await relayed(1, idempotencyWindowMs);
  const engine = engines[0];
  if (engine === undefined) throw new Error("no engine");
  return { engine, close };
}

brokerContract("ipc relay", async (_prefix, options) => {
  const { engine, close } = await one(options.idempotencyWindowMs);
  return { broker: engine.broker, history: engine.history, close };
});
presenceContract("ipc relay", async () => {
  const { engine, close } = await one();
  return { store: engine.presence, close };
});
registryContract("ipc relay", async () => {
  const { engine, close } = await one();
  return { store: engine.registry, close };
});

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const HISTORY = { size: 10, ttlMs: 60_000, metaTtlMs: 600_000 };
const noop = (): undefined => undefined;

describe("ipc relay across workers", () => {
  it("fans a publication out only to the workers subscribed to its channel, with one offset sequence", async () => {
    const { engines, close } = await relayed(3);
    try {
      const [a, b, c] = engines as [IpcEngine, IpcEngine, IpcEngine];
      const seen: string[][] = [[], [], []];
      await Promise.all(
        engines.map((e, i) =>
          e.broker.start({
            publication: (p) => seen[i]?.push(`${p.channel}#${p.offset}`),
            join: noop,
            leave: noop,
            resync: noop,
            control: noop,
          }),
        ),
      );
      await a.broker.subscribe(["x"]);
      await b.broker.subscribe(["x"]);
      await c.broker.subscribe(["y"]);
      await c.broker.publish({ channel: "x", data: utf8("1") }, HISTORY);
      await a.broker.publish({ channel: "x", data: utf8("2") }, HISTORY);
      const page = await c.history.read("x", { limit: 10 }, HISTORY);
      expect(page.position.offset).toBe(2);
      await eventually(
        () => seen[0]?.length === 2 && seen[1]?.length === 2,
        2_000,
        "both subscribed workers to get both publications",
        10,
      );
      expect(seen).toEqual([["x#1", "x#2"], ["x#1", "x#2"], []]);
    } finally {
      await close();
    }
  });

  it("drops a gone worker's presence and registry entries", async () => {
    const { engines, relay, close } = await relayed(2);
    try {
      const [a, b] = engines as [IpcEngine, IpcEngine];
      await a.presence.add("room", { client: "ca", user: "ann" });
      await b.presence.add("room", { client: "cb", user: "bob" });
      await a.registry.announce({
        id: "node-a",
        address: "",
        version: "0",
        startedAt: 0,
        connections: 0,
        subscriptions: 0,
        channels: 0,
      });
      await b.registry.announce({
        id: "node-b",
        address: "",
        version: "0",
        startedAt: 0,
        connections: 0,
        subscriptions: 0,
        channels: 0,
      });
      await a.close();
      await eventually(() => relay.size === 1, 2_000, "the relay to drop the closed worker", 10);
      expect(Object.keys(await b.presence.get("room"))).toEqual(["cb"]);
      expect((await b.registry.list()).map((n) => n.id)).toEqual(["node-b"]);
    } finally {
      await close();
    }
  });

  it("rejects calls with RelayTimeoutError when the primary does not answer, and RelayClosedError once closed", async () => {
    const [workerEnd, silentEnd] = linkedPair();
    silentEnd.listen(noop, noop); // a primary that never replies
    const engine = new IpcEngine(workerEnd, { timeoutMs: 100 });
    await expect(engine.registry.list()).rejects.toBeInstanceOf(RelayTimeoutError);
    expect(engine.isReady()).toBe(true);
    await engine.close();
    expect(engine.isReady()).toBe(false);
    await expect(engine.registry.list()).rejects.toBeInstanceOf(RelayClosedError);
  });

  it("fails outstanding calls with RelayClosedError when the primary's end goes", async () => {
    const [workerEnd, primaryEnd]: [RelayLink, RelayLink] = linkedPair();
    primaryEnd.listen(noop, noop);
    const engine = new IpcEngine(workerEnd, { timeoutMs: 5_000 });
    const pending = engine.presence.get("room");
    primaryEnd.close();
    await expect(pending).rejects.toBeInstanceOf(RelayClosedError);
    expect(engine.isReady()).toBe(false);
    await engine.close();
  });
});
