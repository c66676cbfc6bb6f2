import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const toolDir = join(root, "tools/sdk-docs");
const committed = join(root, "docs/sdk-reference");
const FIX = "Run `npm run docs:sdk` and commit docs/sdk-reference.";

const tmp = mkdtempSync(join(tmpdir(), "hubcast-sdk-reference-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every file under `dir`, as paths relative to it, sorted. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** Runs TypeDoc with the repo's strict configuration into `out`; resolves to its exit code and output. */
async function typedoc(out: string): Promise<{ code: number; output: string }> {
  const bin = join(toolDir, "node_modules/.bin/typedoc");
  const args = ["--options", "typedoc.json", "--out", out, "--logLevel", "Warn"];
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, args, { cwd: toolDir, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (thrown) {
    const error = thrown as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof error.code === "number" ? error.code : 1,
      output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
    };
  }
}

describe("SDK reference (docs/sdk-reference)", () => {
  it("regenerates from the source without a warning and equals the committed copy", async () => {
    const out = join(tmp, "out");
    const run = await typedoc(out);
    expect(
      run.code === 0 && run.output.trim() === "",
      `TypeDoc reported problems (exit ${run.code}); document what it names in packages/client/src, then ${FIX}\n${run.output}`,
    ).toBe(true);

    const fresh = files(out);
    const old = files(committed);
    const added = fresh.filter((f) => !old.includes(f));
    const removed = old.filter((f) => !fresh.includes(f));
    const changed = fresh.filter(
      (f) => old.includes(f) && readFileSync(join(out, f), "utf8") !== readFileSync(join(committed, f), "utf8"),
    );
    const drift = [
      ...added.map((f) => `missing: ${f}`),
      ...removed.map((f) => `stale: ${f}`),
      ...changed.map((f) => `out of date: ${f}`),
    ];
    expect(drift, `docs/sdk-reference differs from the source. ${FIX}\n${drift.join("\n")}`).toEqual([]);
  }, 90_000);
});
