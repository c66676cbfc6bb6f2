import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PATHS } from "../packages/server/src/http/api.js";
import type { FencedBlock } from "./support/doc-examples.js";
import { fencedBlocks, runShellBlock, runnableBlocks } from "./support/doc-examples.js";
import { TestCluster } from "./support/nodes.js";
import type { RawClient } from "./support/raw-client.js";
import { withTimeout } from "./support/raw-client.js";
import { TEST_SECRET, sign } from "./support/tokens.js";
import { readFileSync } from "node:fs";

// docs/api.md's curl examples, run as written (in order, as a reader would) against a node
// with the defaults (the `demo` namespace), checking each answer's shape and its effects.

const DOC = new URL("../docs/api.md", import.meta.url);
const KEY = "docs-example-key-0123456789";
const examples = runnableBlocks(DOC, "sh");
const endpointOf = (block: FencedBlock): string | undefined => /^(?:GET|POST) (\/api\/\w+)$/.exec(block.heading)?.[1];

/** The top-level keys of the first JSON answer each endpoint section shows, by endpoint path. */
function documentedAnswerKeys(): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const block of fencedBlocks(readFileSync(DOC, "utf8"))) {
    const path = endpointOf(block);
    if (block.lang !== "json" || path === undefined || keys.has(path)) continue;
    keys.set(path, Object.keys(JSON.parse(block.text) as object).sort());
  }
  return keys;
}

const cluster = new TestCluster();
let env: Record<string, string>;
let subscriber: RawClient;
let alice: RawClient;
beforeAll(async () => {
  // A default node: only the built-in `demo` namespace.
  const { node, wsUrl } = await cluster.node({ apiKey: KEY, tokenHmacSecret: TEST_SECRET, demo: true, namespaces: {} });
  env = { HUBCAST_URL: node.address.url, HUBCAST_API_KEY: KEY };
  subscriber = await cluster.client(wsUrl);
  await subscriber.ok("subscribe", { channel: "demo:lobby" });
  alice = await cluster.client(wsUrl, false);
  await alice.ok("connect", { token: await sign({ sub: "alice" }) });
});
afterAll(() => cluster.cleanup());

describe("docs/api.md", () => {
  it("has one runnable curl example per endpoint", () => {
    expect(examples.map(endpointOf).sort()).toEqual([...API_PATHS].sort());
  });

  it("runs every example as written, each answering the shape its section documents", async () => {
    const answerKeys = documentedAnswerKeys();
    const answers = new Map<string, Record<string, unknown>>();
    for (const block of examples) {
      const where = `docs/api.md:${block.line} (${block.heading})`;
      const { code, stdout, stderr } = await runShellBlock(block, env);
      expect(code, `${where}: ${stderr}`).toBe(0);
      const answer = JSON.parse(stdout) as Record<string, unknown>;
      expect(answer, where).not.toHaveProperty("error");
      const path = endpointOf(block) ?? "";
      const documented = answerKeys.get(path);
      if (documented !== undefined) expect(Object.keys(answer).sort(), where).toEqual(documented);
      answers.set(path, answer);
    }
    // The effects: the publish and the broadcast reached the subscriber, history holds them,
    // presence sees the subscriber, and alice was disconnected for good.
    const pushes = await subscriber.waitForPushes<{ data: unknown }>("publication", 2, "demo:lobby");
    expect(pushes.map((p) => p.data)).toEqual([{ text: "deploy finished" }, { text: "maintenance at 22:00" }]);
    expect(answers.get("/api/publish")).toEqual({ position: { offset: 1, epoch: expect.any(String) as string } });
    const history = answers.get("/api/history")?.["publications"] as { data: unknown }[];
    expect(history.map((p) => p.data)).toEqual([{ text: "maintenance at 22:00" }, { text: "deploy finished" }]);
    expect(answers.get("/api/presence")).toMatchObject({ numClients: 1 });
    expect((await withTimeout(alice.closed, 5_000, "alice to be disconnected")).code).toBe(3501);
  });
});
