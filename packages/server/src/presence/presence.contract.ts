import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PresenceStore } from "./presence.js";

/** The contract every PresenceStore passes. `make` gets a unique key prefix. */
export function presenceContract(
  name: string,
  make: (prefix: string) => Promise<{ store: PresenceStore; close(): Promise<void> }>,
): void {
  describe(`PresenceStore contract: ${name}`, () => {
    let store: PresenceStore;
    let close: () => Promise<void>;
    beforeEach(async () => {
      ({ store: store, close } = await make(`t-${randomUUID()}:`));
    });
    afterEach(() => close());

    it("lists added clients per channel and counts distinct users", async () => {
      await store.add("room", { client: "c1", user: "ann" });
      await store.add("room", { client: "c2", user: "ann", info: { device: "phone" } });
      await store.add("room", { client: "c3", user: "bob" });
      await store.add("other", { client: "c9", user: "zed" });
      expect(await store.get("room")).toEqual({
        c1: { client: "c1", user: "ann" },
        c2: { client: "c2", user: "ann", info: { device: "phone" } },
        c3: { client: "c3", user: "bob" },
      });
      expect(await store.stats("room")).toEqual({ numClients: 3, numUsers: 2 });
    });

    it("removes clients, and an empty channel has no one", async () => {
      await store.add("room", { client: "c1", user: "ann" });
      await store.remove("room", "c1");
      await store.remove("room", "never-added");
      expect(await store.get("room")).toEqual({});
      expect(await store.stats("room")).toEqual({ numClients: 0, numUsers: 0 });
    });

    it("replaces a client's entry when it is added again", async () => {
      await store.add("room", { client: "c1", user: "ann", info: 1 });
      await store.add("room", { client: "c1", user: "ann", info: 2 });
      expect(await store.get("room")).toEqual({ c1: { client: "c1", user: "ann", info: 2 } });
    });
  });
}
