import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import { TestCluster } from "../../../../test/support/nodes.js";
import { parseSamples, sample } from "../../../../test/support/scrape.js";
import type { RawClient } from "../../../../test/support/raw-client.js";
import { TEST_SECRET, sign } from "../../../../test/support/tokens.js";
import type { HubcastNode } from "../node.js";

// Each case here is an authorization hole that was once open; each test fails if it reopens.

const NAMESPACES = {
  // docs/security.md's own example of a private chat, with client publishing on.
  private: { subscribe: "token", allowPublish: true },
  sealed: { historySize: 10, allowHistory: false, allowPublish: true },
} as const;

const cluster = new TestCluster();
let wsUrl = "";
let node: HubcastNode;

beforeAll(async () => {
  ({ node, wsUrl } = await cluster.node({ namespaces: NAMESPACES, tokenHmacSecret: TEST_SECRET }));
});
afterAll(() => cluster.cleanup());

async function connectAs(token: string | undefined): Promise<RawClient> {
  const client = await cluster.client(wsUrl, false);
  await client.ok("connect", token === undefined ? {} : { token });
  return client;
}

interface Position {
  offset: number;
  epoch: string;
}

describe("allowHistory: false also forbids recovery", () => {
  it("a resubscribe with since recovers nothing while history answers 103", async () => {
    const channel = "sealed:room";
    const client = await connectAs(undefined);
    const first = await client.ok<{ position: Position }>("subscribe", { channel });
    await client.ok("publish", { channel, data: "secret 1" });
    await client.ok("publish", { channel, data: "secret 2" });
    await client.waitForPushes("publication", 2, channel);
    await client.ok("unsubscribe", { channel });

    const again = await client.ok<{ recovered: boolean; publications: unknown[]; position: Position }>("subscribe", {
      channel,
      since: first.position,
    });
    expect(again).toMatchObject({ recovered: false, publications: [] });
    expect(again.position).toEqual({ offset: first.position.offset + 2, epoch: first.position.epoch });
    expect(await client.fails("history", { channel })).toMatchObject({ code: ErrorCode.permissionDenied });
    // Not a failure to recover, so it stays out of the recovery metric (and its alert).
    const samples = parseSamples((await node.metrics.scrape()).text);
    expect(sample(samples, 'hubcast_recoveries_total{result="not_recovered"}')).toBe(0);
  });
});

describe("publishing follows the subscribe rule", () => {
  it('{"subscribe":"token","allowPublish":true}: only live subscribers publish, so alice hears only what they send', async () => {
    const channel = "private:alice-bob";
    const alice = await connectAs(await sign({ sub: "alice" }));
    await alice.ok("subscribe", { channel, token: await sign({ sub: "alice", channel }) });
    const bob = await connectAs(await sign({ sub: "bob" }));
    const anonymous = await connectAs(undefined);

    expect(await bob.fails("publish", { channel, data: "from bob without a channel token" })).toMatchObject({
      code: ErrorCode.permissionDenied,
    });
    expect(await anonymous.fails("publish", { channel, data: "from nobody" })).toMatchObject({
      code: ErrorCode.permissionDenied,
    });
    // A refused publish never reaches the broker, so anything leaked would arrive before this marker.
    await alice.ok("publish", { channel, data: "marker" });
    const received = await alice.waitForPushes<{ data: unknown }>("publication", 1, channel);
    expect(received.map((p) => p.data)).toEqual(["marker"]);
  });
});

describe("tokens are typed", () => {
  it("a channel token is refused as a connection token, typed or not", async () => {
    for (const typ of [undefined, null] as const) {
      const token = await sign({ sub: "alice", channel: "private:alice-bob" }, typ === null ? { typ } : {});
      const client = await cluster.client(wsUrl, false);
      expect(await client.fails("connect", { token })).toMatchObject({ code: ErrorCode.unauthorized });
    }
  });

  it("a connection token is refused as a channel token", async () => {
    const channel = "private:alice-carol";
    const alice = await connectAs(await sign({ sub: "alice" }));
    const token = await sign({ sub: "alice", channels: [channel] });
    expect(await alice.fails("subscribe", { channel, token })).toMatchObject({
      code: ErrorCode.unauthorized,
      message: expect.stringContaining("wrong type") as unknown,
    });
  });
});
