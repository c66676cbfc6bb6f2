import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = fileURLToPath(new URL("../../../..", import.meta.url));

/** The files a fresh clone of this working tree would hold: tracked ones and new ones git does not ignore. */
function cloneWorkingTree(into: string): void {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: repo,
    encoding: "utf8",
  });
  for (const path of listed.split("\0").filter((p) => p !== "")) {
    mkdirSync(dirname(join(into, path)), { recursive: true });
    try {
      copyFileSync(join(repo, path), join(into, path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err; // deleted in the working tree, not yet in the index
    }
  }
}

describe("a fresh clone", () => {
  let dir: string;
  let install: ReturnType<typeof spawnSync>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "hubcast-clone-"));
    cloneWorkingTree(dir);
    // What the README says to run; the npm cache makes it quick, and the registry fills any gap.
    install = spawnSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 240_000,
    });
  }, 250_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("installs on this Node without engine warnings", () => {
    expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    expect(`${install.stdout}${install.stderr}`).not.toContain("EBADENGINE");
  });

  it("runs `npx hubcast` and `npx hubcast-bench` right after the install, from the clone's own packages", () => {
    const run = (command: string, args: string[]) =>
      spawnSync("npx", ["--no-install", command, ...args], { cwd: dir, encoding: "utf8", timeout: 30_000 });
    const hubcast = run("hubcast", ["--help"]);
    expect(hubcast.status, hubcast.stderr).toBe(0);
    expect(hubcast.stdout).toContain("Usage: hubcast <command>");
    const start = run("hubcast", ["start", "--help"]);
    expect(start.stdout).toContain("Usage: hubcast start");
    const bench = run("hubcast-bench", ["--help"]);
    expect(bench.status, bench.stderr).toBe(0);
    expect(bench.stdout).toContain("Usage: hubcast bench");
  });

  it("says how to build when the command runs before dist/ exists", () => {
    const bare = mkdtempSync(join(tmpdir(), "hubcast-unbuilt-"));
    try {
      mkdirSync(join(bare, "bin"));
      writeFileSync(join(bare, "package.json"), JSON.stringify({ type: "module" }));
      copyFileSync(join(repo, "packages/server/bin/hubcast.js"), join(bare, "bin/hubcast.js"));
      const run = spawnSync(process.execPath, [join(bare, "bin/hubcast.js"), "--help"], {
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(
        /^hubcast: not built yet \(.*dist\/cli\/main\.js is missing\): run `npm run build` at the repository root\n$/,
      );
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
