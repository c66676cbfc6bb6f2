import { CloseCode, ErrorCode } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../../test/support/nodes.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

/** Frames a broken or hostile client floods with: each gets an error reply, none is a command. */
const MALFORMED = [
  (id: number) => `{"id":${id},"no_such_method":{}}`,
  (id: number) => `{"id":${id},"publish":{"data":1}}`,
  (id: number) => `{"id":${id},"subscribe":{"channel":5}}`,
];

describe("every frame counts toward the command rate limit", () => {
  it.each(MALFORMED.map((make) => [make(1), make]))(
    "closes a client flooding frames like %s with 112 and then 3006",
    async (_, make) => {
      const { wsUrl } = await cluster.node({ commandRatePerSecond: 10, commandBurst: 20, maxRateLimitedCommands: 50 });
      const client = await cluster.client(wsUrl);
      for (let id = 100; id < 5_100; id += 1) client.send(make(id));
      expect((await client.closed).code).toBe(CloseCode.rateLimited);
      const errors = client.frames
        .map((f) => (f["error"] as { code?: number } | undefined)?.code)
        .filter((c) => c !== undefined);
      // The burst (less the connect) is answered for what it is, then 50 refusals, then the close.
      expect(errors.filter((c) => c === ErrorCode.tooManyRequests)).toHaveLength(50);
      expect(errors.length).toBeLessThan(100);
    },
  );

  it("counts pongs and other frames without an id as well", async () => {
    const { wsUrl } = await cluster.node({ commandRatePerSecond: 10, commandBurst: 5, maxRateLimitedCommands: 1_000 });
    const client = await cluster.client(wsUrl);
    for (let i = 0; i < 20; i += 1) client.send('{"pong":{}}');
    const reply = await client.command("subscribe", { channel: "plain:x" });
    expect(reply["error"]).toMatchObject({ code: ErrorCode.tooManyRequests, temporary: true });
  });
});
