import type { RawPublication } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import type { LinkProxy } from "../../../../test/support/link-proxy.js";
import type { Engine } from "./engine.js";

/** Faults an engine's test harness can play on the links between the engine and its backend. */
export interface LinkFaults {
  /** Stops carrying bytes on the engine's subscribing link, both ways, without a reset; other links and new ones keep working. */
  silenceSubscriber(): Promise<void>;
  /** Resets every link of the engine and refuses new ones (the backend is gone for this node). */
  cut(): void;
  /** Carries new links again after {@link cut}. */
  heal(): void;
}

/** An engine reached through a fault-playing path, and how to undo everything the harness started. */
export interface EngineUnderFaults {
  engine: Engine;
  faults: LinkFaults;
  close(): Promise<void>;
}

/**
 * An engine whose backend is reached through one {@link LinkProxy}: cutting resets every link
 * and refuses new ones, healing carries them again; `silenceSubscriber` picks the link to blackhole.
 */
export function behindProxy(
  engine: Engine,
  proxy: LinkProxy,
  silenceSubscriber: () => Promise<void>,
): EngineUnderFaults {
  return {
    engine,
    faults: { silenceSubscriber, cut: () => proxy.setMode("reset"), heal: () => proxy.setMode("forward") },
    close: async () => {
      await engine.close().catch(() => undefined); // a link the test left cut may fail the goodbye; the proxy closes it anyway
      await proxy.close();
    },
  };
}

/** How long a silent subscribing link may go unnoticed; engines should be well inside it. */
export const SILENT_LINK_BOUND_MS = 5_000;

/**
 * The link-liveness guarantee every engine with a network backend keeps: a subscribing link
 * that goes silent is declared dead (not ready) within {@link SILENT_LINK_BOUND_MS}, replaced,
 * and the broker asks for a resync, after which publications are delivered again; an engine cut
 * off from its backend is not ready, and ready and delivering again once the path heals.
 */
export function linkLivenessContract(name: string, make: () => Promise<EngineUnderFaults>): void {
  describe(`Link liveness contract: ${name}`, () => {
    const open: EngineUnderFaults[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((e) => e.close()));
    });

    /** Starts the broker on a channel and returns what it delivered and how often it asked for a resync. */
    async function started(
      channel: string,
    ): Promise<{ under: EngineUnderFaults; got: RawPublication[]; resyncs: () => number }> {
      const under = await make();
      open.push(under);
      const got: RawPublication[] = [];
      let resyncs = 0;
      await under.engine.broker.start({
        publication: (pub) => got.push(pub),
        join: () => undefined,
        leave: () => undefined,
        resync: () => (resyncs += 1),
        control: () => undefined,
      });
      await under.engine.broker.subscribe([channel]);
      return { under, got, resyncs: () => resyncs };
    }

    const publish = (engine: Engine, channel: string, text: string): Promise<unknown> =>
      engine.broker.publish(
        { channel, data: new TextEncoder().encode(text) },
        { size: 10, ttlMs: 60_000, metaTtlMs: 120_000 },
      );

    it("declares a silent subscribing link dead within the bound, replaces it, asks for a resync and delivers again", {
      timeout: 20_000,
    }, async () => {
      const { under, got, resyncs } = await started("live:silent");
      const { engine, faults } = under;
      const silencedAt = Date.now();
      await faults.silenceSubscriber();
      await eventually(
        () => !engine.isReady() || resyncs() > 0,
        SILENT_LINK_BOUND_MS,
        "the engine to notice the silent link",
        10,
      );
      expect(Date.now() - silencedAt).toBeLessThan(SILENT_LINK_BOUND_MS);
      await eventually(() => engine.isReady() && resyncs() === 1, SILENT_LINK_BOUND_MS, "a new link and one resync");
      await publish(engine, "live:silent", "after");
      await eventually(
        () => got.some((p) => new TextDecoder().decode(p.data) === "after"),
        5_000,
        "delivery on the new link",
      );
    });

    it("is not ready while cut off from its backend, and ready and delivering again once the path heals", {
      timeout: 20_000,
    }, async () => {
      const { under, got, resyncs } = await started("live:cut");
      const { engine, faults } = under;
      faults.cut();
      await eventually(() => !engine.isReady(), SILENT_LINK_BOUND_MS, "the engine to report not ready");
      faults.heal();
      await eventually(
        () => engine.isReady() && resyncs() > 0,
        10_000,
        "the engine to be ready again and ask for a resync",
      );
      await publish(engine, "live:cut", "healed");
      await eventually(
        () => got.some((p) => new TextDecoder().decode(p.data) === "healed"),
        5_000,
        "delivery after healing",
      );
    });
  });
}
