import { connect } from "node:net";
import { CloseCode, ErrorCode } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import type { RawClient } from "../../../test/support/raw-client.js";

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

/** Proves the node still serves: a fresh pair of clients completes a round trip. */
async function stillServes(wsUrl: string): Promise<void> {
  const a = await cluster.client(wsUrl);
  const b = await cluster.client(wsUrl);
  await a.ok("subscribe", { channel: "plain:alive" });
  await b.ok("publish", { channel: "plain:alive", data: "ok" });
  await a.waitForPushes("publication", 1, "plain:alive");
}

async function expectClosed(client: RawClient, code: number): Promise<void> {
  expect((await client.closed).code).toBe(code);
}

describe("limits, liveness and bad input", () => {
  it("closes a connection that sends a frame over maxMessageBytes with 1009, and keeps serving", async () => {
    const { wsUrl } = await cluster.node({ maxMessageBytes: 1024 });
    const bystander = await cluster.client(wsUrl);
    await bystander.ok("subscribe", { channel: "plain:alive" });
    const c = await cluster.client(wsUrl);
    await c.ok("publish", { channel: "plain:alive", data: "x".repeat(900) }); // under the limit
    c.send({ id: 9, publish: { channel: "plain:alive", data: "x".repeat(2000) } });
    await expectClosed(c, CloseCode.messageTooBig);
    await bystander.waitForPushes("publication", 1);
    await stillServes(wsUrl);
  });

  it("closes a client that does not answer pings with no_pong, after a disconnect push", async () => {
    const { wsUrl } = await cluster.node({ pingIntervalMs: 100, pongTimeoutMs: 60 });
    const answering = await cluster.client(wsUrl);
    const silent = await cluster.client(wsUrl);
    silent.answerPings = false;
    await expectClosed(silent, CloseCode.noPong);
    expect(silent.pushes("disconnect")).toEqual([{ code: CloseCode.noPong, reason: "no_pong", reconnect: true }]);
    expect(silent.pushes("ping").length).toBeGreaterThanOrEqual(1);
    // The answering client has been pinged several times by now and is still open.
    await answering.waitForPushes("ping", 3);
    await stillServes(wsUrl);
  });

  it("closes a socket that never sends connect with connect_timeout", async () => {
    const { wsUrl } = await cluster.node({ connectTimeoutMs: 100 });
    const idle = await cluster.client(wsUrl, false);
    await expectClosed(idle, CloseCode.connectTimeout);
  });

  it("closes on frames it cannot attribute to a command (not JSON, no id) with bad_request", async () => {
    const { wsUrl } = await cluster.node();
    for (const garbage of [
      "not json",
      "[1,2]",
      '{"subscribe":{"channel":"a"}}',
      '{"id":-1,"connect":{}}',
      '{"id":1e300,"connect":{}}',
      "[".repeat(60_000),
    ]) {
      const c = await cluster.client(wsUrl, false);
      c.send(garbage);
      await expectClosed(c, CloseCode.badRequest);
      expect(c.pushes("disconnect")).toMatchObject([{ code: CloseCode.badRequest, reconnect: false }]);
    }
    const binary = await cluster.client(wsUrl);
    binary.ws.send(Buffer.from('{"id":1,"connect":{}}'), { binary: true });
    await expectClosed(binary, CloseCode.badRequest);
    await stillServes(wsUrl);
  });

  it("replies with an error to commands that carry an id but are wrong", async () => {
    const { wsUrl } = await cluster.node();
    const fresh = await cluster.client(wsUrl, false);
    expect((await fresh.fails("subscribe", { channel: "plain:a" })).code).toBe(ErrorCode.notConnected);
    // Sent right behind connect, before its reply: refused with a message that says so.
    fresh.send({ id: 100, connect: {} });
    const early = await fresh.fails("subscribe", { channel: "plain:a" });
    expect(early).toMatchObject({
      code: ErrorCode.notConnected,
      message: expect.stringMatching(/wait for the connect reply/),
    });
    await fresh.waitFor((f) => f["id"] === 100, "the connect reply");
    expect((await fresh.fails("connect", {})).code).toBe(ErrorCode.alreadyConnected);
    expect((await fresh.fails("teleport", {})).code).toBe(ErrorCode.methodNotFound);
    const cases: [string, unknown][] = [
      ["subscribe", { channel: 42 }],
      ["subscribe", {}],
      ["subscribe", { channel: "plain:a", since: { offset: "3", epoch: "e" } }],
      ["subscribe", { channel: "plain:a", since: { offset: 3 } }],
      ["publish", { channel: "plain:a" }],
      ["history", { channel: "chat:a", limit: -1 }],
      ["history", { channel: "chat:a", reverse: "yes" }],
      ["presence", []],
      ["connect", "me"],
    ];
    for (const [method, request] of cases) {
      const error = await fresh.fails(method, request);
      expect(error.code, `${method} ${JSON.stringify(request)}`).toBe(ErrorCode.badRequest);
      expect(error.temporary).toBe(false);
    }
    fresh.send({ id: 77, subscribe: { channel: "plain:a" }, publish: { channel: "plain:a", data: 1 } });
    expect((await fresh.waitFor((f) => f["id"] === 77, "reply 77"))["error"]).toMatchObject({
      code: ErrorCode.badRequest,
    });
    // The connection is still usable after all of that.
    await fresh.ok("subscribe", { channel: "plain:a" });
    await stillServes(wsUrl);
  });

  it("closes with 1007 on a text frame that is not UTF-8", async () => {
    const { wsUrl } = await cluster.node();
    const c = await cluster.client(wsUrl);
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    await expectClosed(c, CloseCode.invalidPayload);
    await stillServes(wsUrl);
  });

  it("survives peers that reset their socket while a refused upgrade is being answered", async () => {
    const { node, wsUrl } = await cluster.node();
    const { port } = node.address;
    for (let i = 0; i < 50; i++) {
      const socket = connect(port, "127.0.0.1");
      await new Promise<void>((resolve) => socket.once("connect", resolve));
      socket.write(
        "GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
      socket.resetAndDestroy();
    }
    await stillServes(wsUrl);
  });
});
