import { createConnection } from "node:net";
import { RedisCommandTimeoutError, connectRedis } from "@hubcast/emitter";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/eventually.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { RedisServer } from "../../../test/support/redis.js";
import { startRedisNodes } from "../../../test/support/redis-nodes.js";

let redis: RedisServer;
const servers: ServerProcess[] = [];
const clients: RawClient[] = [];
beforeAll(async () => {
  redis = await RedisServer.start(["--enable-debug-command", "yes"]);
});
afterAll(() => redis.stop());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

describe("a Redis that stops answering without closing the connection", () => {
  it("fails publishes at their deadline instead of hanging, never runs them late, reports not ready, and recovers", {
    timeout: 40_000,
  }, async () => {
    const {
      nodes: [node],
    } = await startRedisNodes(redis.url, 1);
    servers.push(node as ServerProcess);
    const client = await RawClient.connected((node as ServerProcess).wsUrl);
    clients.push(client);
    await client.ok("publish", { channel: "chat:stall", data: "before" });

    // Redis is busy for 8 s: the TCP connection stays up, but nothing answers.
    const direct = await connectRedis({ url: redis.url }, () => undefined);
    const stallOver = direct.send(undefined, ["DEBUG", "SLEEP", "8"]).then(
      () => "answered",
      (err: unknown) => (err instanceof RedisCommandTimeoutError ? "timed out" : "failed"),
    );
    await eventually(() => stalled(redis.port), 5_000, "Redis to stop answering");
    const startedAt = Date.now();
    const reply = await client.command("publish", { channel: "chat:stall", data: "during" }, 15_000);
    // No answer by the publish deadline (publishTimeoutMs, 4 s): maybe made, never later.
    expect(reply["error"]).toMatchObject({ code: 114, temporary: true });
    expect(Date.now() - startedAt).toBeLessThan(5_500); // the publish deadline, not the whole stall
    // Readiness follows the command timeout (5 s), which comes a little after the deadline.
    await eventually(
      async () => (await fetch(`${(node as ServerProcess).url}/readyz`)).status === 503,
      2_500,
      "the node to report not ready",
    );

    expect(await stallOver).toBe("timed out"); // our own client gives up after the command timeout too
    await direct.close();
    await eventually(
      async () =>
        (await client.command("publish", { channel: "chat:stall", data: "after", idempotencyKey: "after" }))[
          "error"
        ] === undefined,
      10_000,
      "a publish to succeed again",
    );
    // Ready again once every link is back: the pub/sub link, replaced during the stall, may
    // follow the command link by a reconnect backoff step.
    await eventually(
      async () => (await fetch(`${(node as ServerProcess).url}/readyz`)).status === 200,
      5_000,
      "the node to report ready again",
    );
    // Redis ran the stalled publish after the stall, past its deadline, and refused it.
    await client.ok("subscribe", { channel: "chat:stall" });
    const history = await client.ok<{ publications: { data: unknown }[] }>("history", {
      channel: "chat:stall",
      limit: 10,
    });
    expect(history.publications.map((p) => p.data)).toEqual(["before", "after"]);
  });
});

/** True when a PING on a fresh connection gets no answer within 300 ms: Redis is busy. */
function stalled(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(true);
    }, 300);
    socket.once("data", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => undefined); // destroyed on purpose; the answer is already decided
    socket.write("PING\r\n");
  });
}
