import type { Duplex } from "node:stream";
import { encodeJsonData } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

describe("write coalescing", () => {
  it("sends a burst of publications for one socket in one corked write per event-loop turn, in order", async () => {
    const { node, wsUrl } = await cluster.node();
    const sub = await cluster.client(wsUrl);
    await sub.ok("subscribe", { channel: "plain:burst" });
    // Watch the subscriber's socket on the node side: how many times is it corked and written?
    const sessions = (node as unknown as { sessions: Set<{ transport: { socket: Duplex } }> }).sessions;
    const socket = [...sessions][0]?.transport.socket;
    if (socket === undefined) throw new Error("no session");
    let corks = 0;
    let writes = 0;
    const cork = socket.cork.bind(socket);
    const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
    socket.cork = () => {
      corks += 1;
      cork();
    };
    socket.write = ((chunk: Buffer) => {
      writes += 1;
      return write(chunk);
    }) as typeof socket.write;
    const policy = { size: 0, ttlMs: 1_000, metaTtlMs: 1_000 };
    // 100 publications delivered within one turn, as a burst from the broker would be.
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        node.engine.broker.publish({ channel: "plain:burst", data: encodeJsonData(i) }, policy),
      ),
    );
    const pubs = await sub.waitForPushes<{ data: number }>("publication", 100, "plain:burst");
    expect(pubs.map((p) => p.data)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(corks).toBe(1);
    expect(writes).toBe(100);
  });
});
