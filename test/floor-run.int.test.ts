import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), "floor-run-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface WriteSummary {
  variant: string;
  framesPerTick: number;
  delivered: boolean;
  loopMsP50: number;
  deliveryMsP50: number;
  deliveryMsP99: number;
  deliveryMsMax: number;
}
interface RawWrite {
  variant: string;
  readers: number;
  cpusAllowed: string;
  delivery: { connections: number; cpusAllowed: string };
  deliveryLatency: { frames: number; badDigits: number };
}

describe("bench/floor's write floor, run for real", () => {
  it("measures each frame's latency at the client, every measured frame once, across two pinned readers, and writes it to --out", async () => {
    const connections = 200;
    const rounds = 3;
    const { stdout } = await run(
      process.execPath,
      [
        "bench/floor/run.mjs",
        "--only",
        "write",
        "--connections",
        String(connections),
        "--rounds",
        String(rounds),
        "--warmup",
        "2",
        "--readers",
        "2",
        "--pin",
        "--out",
        out,
      ],
      { timeout: 60_000 },
    );
    expect(stdout).toContain("latency at the client ms p50 / p99 / max");
    expect(stdout).toContain(`${connections} connections read by 2 processes (server on CPU 0, readers on CPU 1`);
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith(".json"));
    expect(files).toContain(json?.replace(/json$/, "md"));
    const result = JSON.parse(readFileSync(join(out, json ?? ""), "utf8")) as {
      write: WriteSummary[];
      raw: { write: RawWrite[] };
    };
    expect(result.write.map((w) => w.framesPerTick)).toEqual([1, 10]);
    for (const w of result.write) {
      expect(w.delivered).toBe(true);
      expect(w.deliveryMsP50).toBeGreaterThan(0);
      expect(w.deliveryMsP50).toBeLessThanOrEqual(w.deliveryMsP99);
      expect(w.deliveryMsP99).toBeLessThanOrEqual(w.deliveryMsMax + 0.01);
      // Warm-up frames carry no stamp: exactly the measured rounds' frames were timed.
      const raw = result.raw.write.find((r) => r.variant === w.variant);
      expect(raw?.readers).toBe(2);
      // Pinned for real: the server ran on CPU 0 only, both readers on CPU 1 only.
      expect(raw?.cpusAllowed).toBe("0");
      expect(raw?.delivery.cpusAllowed).toBe("1");
      expect(raw?.delivery.connections).toBe(connections);
      expect(raw?.deliveryLatency).toEqual(
        expect.objectContaining({ frames: connections * rounds * w.framesPerTick, badDigits: 0 }),
      );
    }
    const markdown = readFileSync(join(out, json?.replace(/json$/, "md") ?? ""), "utf8");
    expect(markdown).toContain("*latency at the client*");
  });
});
