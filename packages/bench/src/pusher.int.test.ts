import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBenchNode } from "../../../test/support/bench-node.js";
import { runCli } from "../../../test/support/processes.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { DEFAULT_PUSHER_APP } from "./pusher/app.js";
import type { BenchResult } from "./report/result.js";

// Runs the built CLI (`npm run build` first) with --protocol pusher against a real node that
// serves the bench's default Pusher app. The node pings every 500 ms and closes a client that
// has not answered within 250 ms, so a run of several seconds drops every connection that
// does not answer pusher:ping.
describe("hubcast bench --protocol pusher against hubcast start", () => {
  let server: ServerProcess;
  let base: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    server = await startBenchNode(["--ping-interval-ms", "500", "--pong-timeout-ms", "250"]);
    base = `ws://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("fanout: 50 Pusher subscribers get every publication once, in order, across pings", async () => {
    const out = mkdtempSync(join(tmpdir(), "hubcast-bench-pusher-"));
    dirs.push(out);
    // Published through the Pusher HTTP API, signed with the app's secret, as a Pusher backend does.
    const args = ["bench", "fanout", "--protocol", "pusher", "--url", base];
    args.push("--connections", "50", "--rate", "20", "--warmup", "0.5", "--duration", "2.5", "--out", out);
    const { code, stdout, stderr } = await runCli(args, {}, 30_000);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`hubcast bench fanout: ${base}/app/bench-key?protocol=7&client=js&version=8.4.0`);
    expect(stdout).toMatch(/\n {2}protocol +pusher \(app bench, key bench-key\)\n/);
    const written = readFileSync(join(out, "result.json"), "utf8");
    expect(written).not.toContain(DEFAULT_PUSHER_APP.secret);
    const result = JSON.parse(written) as BenchResult;
    expect(result.options).toMatchObject({ protocol: "pusher", pusherApp: { id: "bench", key: "bench-key" } });
    // Publishers go by HTTP: no publishing connections.
    expect(result.connections).toMatchObject({ requested: 50, publishers: 0, ready: 50, failed: 0, dropped: 0 });
    const m = result.messages;
    expect(m.published).toBeGreaterThanOrEqual(50); // 20/s for 3 s
    expect(m.publishErrors).toBe(0);
    expect(m.deliveries).toBe(50 * m.published);
    expect(m.expectedDeliveries).toBe(m.deliveries);
    expect([m.lost, m.duplicates, m.outOfOrder, m.gaps]).toEqual([0, 0, 0, 0]);
    expect(result.latency.p50Ms).toBeGreaterThan(0);
    const [target] = result.server.targets;
    expect(target?.errors).toEqual([]);
    expect(target?.deliveriesCountedBy).toBe("server");
    expect(target?.cpuMicrosPerDelivery).toBeGreaterThan(0);
  });

  it("connect: 50 idle Pusher subscribers stay connected and the server's memory per connection is read", async () => {
    const args = ["bench", "connect", "--protocol", "pusher", "--url", base, "--connections", "50"];
    args.push("--duration", "2", "--json");
    const { code, stdout, stderr } = await runCli(args, {}, 30_000);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as BenchResult;
    expect(result.connections).toMatchObject({ ready: 50, failed: 0, dropped: 0 });
    expect(result.server.targets[0]?.rssBytesPerConnection).toBeDefined();
  });

  it("comes back after the node's admission control turns connections away (4100), as pusher-js does", async () => {
    const limited = await startBenchNode(["--max-connections-per-second", "10"]);
    try {
      const args = ["bench", "connect", "--protocol", "pusher", "--url", `ws://127.0.0.1:${limited.port}`];
      args.push("--connections", "30", "--duration", "0.5", "--json");
      const { code, stdout, stderr } = await runCli(args, {}, 30_000);
      expect(code, stderr).toBe(0);
      const result = JSON.parse(stdout) as BenchResult;
      expect(result.connections).toMatchObject({ ready: 30, failed: 0, dropped: 0 });
      expect(result.connections.retries).toBeGreaterThan(0);
    } finally {
      await limited.stop();
    }
  });

  it("says how to fix an app the server does not serve, and a malformed --pusher-app", async () => {
    const wrong = ["bench", "fanout", "--protocol", "pusher", "--url", base, "--pusher-app", "x:other-key:secret-123"];
    const refused = await runCli(wrong, {}, 15_000);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("connect was refused (error 4001: App key not in this cluster)");
    expect(refused.stderr).toContain("start it with --pusher-app id:key:secret and give the bench the same");
    const malformed = await runCli(["bench", "fanout", "--protocol", "pusher", "--pusher-app", "1:key"], {}, 15_000);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toBe(
      "hubcast bench: --pusher-app must be id:key:secret, as the server was started with (hubcast start --pusher-app 1:app-key:app-secret) (see 'hubcast bench fanout --help')\n",
    );
  });
});
