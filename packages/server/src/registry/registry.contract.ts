import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NodeInfo, NodeRegistry } from "./registry.js";

const node = (id: string, connections = 0): NodeInfo => ({
  id,
  address: `http://127.0.0.1:${8000 + id.length}`,
  version: "0.0.0",
  startedAt: 1,
  connections,
  subscriptions: 0,
  channels: 0,
});

/** The contract every NodeRegistry passes. `make` gets a unique key prefix. */
export function registryContract(
  name: string,
  make: (prefix: string) => Promise<{ store: NodeRegistry; close(): Promise<void> }>,
): void {
  describe(`NodeRegistry contract: ${name}`, () => {
    let registry: NodeRegistry;
    let close: () => Promise<void>;
    beforeEach(async () => {
      ({ store: registry, close } = await make(`t-${randomUUID()}:`));
    });
    afterEach(() => close());

    it("lists announced nodes by id, with their latest stats", async () => {
      await registry.announce(node("b"));
      await registry.announce(node("a", 1));
      await registry.announce(node("a", 5));
      expect(await registry.list()).toEqual([node("a", 5), node("b")]);
    });

    it("forgets a removed node at once", async () => {
      await registry.announce(node("a"));
      await registry.remove("a");
      expect(await registry.list()).toEqual([]);
    });
  });
}
