import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../test/support/processes.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { startBenchNode } from "../../../test/support/bench-node.js";
import type { BenchResult } from "./report/result.js";

// Runs the built CLI (`npm run build` first) with --transport against a real node: subscribers
// over Hubcast's two-way emulations, the publisher on WebSocket.
describe("hubcast bench --transport http-stream|sse against hubcast start", () => {
  let server: ServerProcess;
  const dirs: string[] = [];

  beforeAll(async () => {
    server = await startBenchNode();
  });

  afterAll(async () => {
    await server?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  for (const transport of ["http-stream", "sse"] as const) {
    it(`fanout over ${transport}: 100 subscribers get every publication once, in order, and the report says ${transport}`, async () => {
      const out = mkdtempSync(join(tmpdir(), "hubcast-bench-transport-"));
      dirs.push(out);
      const args = ["bench", "fanout", "--url", server.wsUrl, "--transport", transport, "--connections", "100"];
      args.push("--rate", "20", "--warmup", "0.5", "--duration", "1.5", "--out", out);
      const { code, stdout, stderr } = await runCli(args, {}, 30_000);
      expect(code, stderr).toBe(0);
      expect(stdout).toMatch(new RegExp(`\\n  transport +${transport} \\(subscribers; publishers on WebSocket\\)\\n`));
      const result = JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as BenchResult;
      expect(result.options.transport).toBe(transport);
      expect(result.connections).toMatchObject({ ready: 101, failed: 0, dropped: 0 });
      const m = result.messages;
      expect(m.published).toBeGreaterThanOrEqual(30); // 20/s for 2 s
      expect(m.publishErrors).toBe(0);
      expect(m.deliveries).toBe(100 * m.published);
      expect(m.expectedDeliveries).toBe(m.deliveries);
      expect([m.lost, m.duplicates, m.outOfOrder, m.gaps]).toEqual([0, 0, 0, 0]);
      expect(result.latency.p50Ms).toBeGreaterThan(0);
      expect(readFileSync(join(out, "report.html"), "utf8")).toContain(`<th>transport</th><td>${transport}`);
    });
  }

  it("chat over sse: members receive on the stream and publish by POST, nothing lost", async () => {
    const args = ["bench", "chat", "--url", server.wsUrl, "--transport", "sse", "--connections", "20"];
    args.push("--members", "5", "--rate", "40", "--warmup", "0.5", "--duration", "1", "--json");
    const { code, stdout, stderr } = await runCli(args, {}, 30_000);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as BenchResult;
    expect(result.connections).toMatchObject({ ready: 20, failed: 0 });
    const m = result.messages;
    expect(m.published).toBeGreaterThanOrEqual(40);
    expect(m.publishErrors).toBe(0);
    expect(m.deliveries).toBe(5 * m.published);
    expect([m.lost, m.duplicates, m.outOfOrder]).toEqual([0, 0, 0]);
  });

  it("refuses an unknown transport with the nearest one, emulation with another protocol, and a path without emulation", async () => {
    const typo = await runCli(["bench", "fanout", "--transport", "server-sent"], {}, 10_000);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("--transport server-sent is not known; use one of: websocket, http-stream, sse");
    const near = await runCli(["bench", "fanout", "--transport", "htp-stream"], {}, 10_000);
    expect(near.stderr).toContain("--transport htp-stream is not known; did you mean http-stream?");
    const other = await runCli(["bench", "fanout", "--protocol", "socketio", "--transport", "sse"], {}, 10_000);
    expect(other.stderr).toContain("--protocol socketio speaks WebSocket only");
    // Checked before the run: no emulation beside the given path.
    const url = server.wsUrl.replace(/\/ws$/, "/nothing/ws");
    const missing = await runCli(["bench", "fanout", "--url", url, "--transport", "sse"], {}, 10_000);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("the server has no emulation endpoint beside this path (HTTP 404)");
  });
});
