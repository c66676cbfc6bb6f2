import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "./support/nodes.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

describe("README", () => {
  it("has a Node example that runs against a node as written", async () => {
    const block = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const { node, wsUrl } = await cluster.node({ demo: true });
    expect(node.options.demo).toBe(true);
    const code = (block ?? "").replace(/^ {3}/gm, "").replace("ws://localhost:8080/ws", wsUrl);
    // Written inside the repo so that "@hubcast/client" and "ws" resolve as they would for a user.
    const file = fileURLToPath(new URL(`./.readme-example-${randomUUID()}.mjs`, import.meta.url));
    writeFileSync(file, `${code}\nclient.disconnect();\n`);
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 10_000 });
      expect(stdout).toContain("hello from Node");
      expect(stdout).toMatch(/subscribed/);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
