import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import type { NodeOptions } from "../packages/server/src/options.js";
import { markedExamples, program, readGuide } from "./support/guide-examples.js";
import { TestCluster } from "./support/nodes.js";
import { TEST_SECRET, sign } from "./support/tokens.js";

const guide = readGuide();
const examples = markedExamples(guide);
const docsDir = fileURLToPath(new URL("../docs/", import.meta.url));
const cluster = new TestCluster();
const servers: Server[] = [];
const files: string[] = [];

afterEach(async () => {
  for (const file of files.splice(0)) rmSync(file, { force: true });
  await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
  await cluster.cleanup();
});

/** The namespaces of the guide's `hubcast.json`. */
function guideNamespaces(): NodeOptions["namespaces"] {
  const config = JSON.parse(program(examples, "config")) as { namespaces: NodeOptions["namespaces"] };
  return config.namespaces;
}

/** A token endpoint like the app backend the guide's `getToken` asks: one token for `alice` per request. */
async function tokenEndpoint(): Promise<string> {
  const server = createServer((_request, response) => {
    void sign({ sub: "alice" }, { ttlSeconds: 600 }).then((token) => response.end(token));
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hubcast-token`;
}

/** The lines of the ```text block that follows "it prints:". */
function printedLines(): string[] {
  const block = /it prints:\n\n```text\n([\s\S]*?)```/.exec(guide)?.[1];
  if (block === undefined) throw new Error('no "it prints:" block in the guide');
  return block.split("\n").filter((line) => line !== "");
}

describe("docs/sdk-guide.md", () => {
  it("runs the walkthrough, joined in order, as a Node program against a node with the guide's config", async () => {
    const { wsUrl } = await cluster.node({ namespaces: guideNamespaces(), tokenHmacSecret: TEST_SECRET });
    const tokenUrl = await tokenEndpoint();
    const code = program(examples, "walkthrough")
      .replace("ws://localhost:8080/ws", wsUrl)
      .replace("http://localhost:3000/hubcast-token", tokenUrl);
    // Written inside the repo so that "@hubcast/client" and "ws" resolve as they would for a user.
    const file = fileURLToPath(new URL(`./.sdk-guide-walkthrough-${randomUUID()}.mjs`, import.meta.url));
    files.push(file);
    writeFileSync(file, code);
    // No kill needed: the program must exit by itself once it calls disconnect().
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [file], { timeout: 15_000 });
    expect(stderr).toBe("");
    // The guide lists the whole output; only the first publication and its ack may swap places.
    const printed = stdout.split("\n").filter((line) => line !== "");
    expect([...printed].sort(), 'the output differs from the "it prints:" block of the guide').toEqual(
      printedLines().sort(),
    );
  });

  it("links only to reference entries and guide sections that exist", () => {
    const broken: string[] = [];
    for (const [, target = ""] of guide.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // another site
      const [path = "", anchor] = target.split("#");
      const file = path === "" ? join(docsDir, "sdk-guide.md") : resolve(docsDir, path);
      if (!existsSync(file)) {
        broken.push(`${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && !anchors(readFileSync(file, "utf8")).has(anchor)) {
        broken.push(`${target}: no such anchor in ${path === "" ? "the guide" : path}`);
      }
    }
    expect(broken, "broken links in docs/sdk-guide.md (after `npm run docs:sdk`, fix the links)").toEqual([]);
  });
});

/** The anchors GitHub makes for a Markdown file: heading slugs and explicit `id`s. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const [, heading = ""] of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    found.add(slug);
  }
  for (const [, id = ""] of markdown.matchAll(/id="([^"]+)"/g)) found.add(id);
  return found;
}
