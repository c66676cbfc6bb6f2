import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ServerProcess } from "../../../test/support/processes.js";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const run = promisify(execFile);
const servers: ServerProcess[] = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

/** The first ```js block of the README after `heading`. */
function readmeSnippet(heading: string): string {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const from = readme.indexOf(heading);
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || block?.[1] === undefined) throw new Error(`no js block after "${heading}" in README.md`);
  return block[1].replace(/^ {3}/gm, "");
}

describe("the README", () => {
  it("has an SDK example that runs as shown against a default node, prints what it says, and exits", {
    timeout: 30_000,
  }, async () => {
    const server = await ServerProcess.start(["--port", "0"]);
    servers.push(server);
    const snippet = readmeSnippet("Talk to it from Node with the SDK").replace("ws://localhost:8080/ws", server.wsUrl);
    // Inside the repository, so that @hubcast/client and ws resolve as in a clone.
    const dir = join(repo, ".test-artifacts", `readme-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "sdk-example.mjs");
    writeFileSync(file, snippet);
    try {
      const { stdout } = await run(process.execPath, [file], { timeout: 15_000 }); // rejects unless it exits 0 by itself
      expect(stdout).toMatch(/^subscribed\n/);
      expect(stdout).toMatch(/^1 \{ nick: 'node', text: 'hello from Node' \}$/m); // its own publication, offset 1
      expect(stdout).toMatch(/\{\n {2}clients: \{\n/); // the presence list, with this client in it
      expect(stdout).toMatch(/data: \{ nick: 'node', text: 'hello from Node' \},\n {4}offset: 1,/); // history, newest first
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
