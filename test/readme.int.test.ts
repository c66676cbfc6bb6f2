import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ErrorCode } from "@hubcast/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { fencedBlocks } from "./support/doc-examples.js";
import { docBlocks } from "./support/doc-snippets.js";
import { eventually } from "./support/eventually.js";
import { TestCluster } from "./support/nodes.js";
import { runCli, ServerProcess } from "./support/processes.js";
import { RawClient } from "./support/raw-client.js";
import { RedisServer } from "./support/redis.js";
import { connected, next, pusherClient, serverSdk, subscribed } from "./support/pusher.js";

// Every runnable block of the README runs here as written, with only what a test must change:
// ports (free ones instead of 8080), the Redis address (a test server), sizes and durations
// (small ones), and `$SECRET`.
const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

/** The fenced blocks of the README in `lang`, indentation of list items removed. */
function blocks(lang: string): string[] {
  return fencedBlocks(readme)
    .filter((b) => b.lang === lang)
    .map((b) => `${b.text}\n`);
}

/** The one block in `lang` that contains `marker`. */
function block(lang: string, marker: string): string {
  const found = blocks(lang).filter((b) => b.includes(marker));
  expect(found, `one \`\`\`${lang} block with ${marker}`).toHaveLength(1);
  return found[0] ?? "";
}

/** A shell command line as argv: comments dropped, `$VAR`/`"$VAR"` substituted, split on spaces. */
function argv(line: string, vars: Record<string, string> = {}): string[] {
  const code = line.replace(/\s+#.*$/, "").trim();
  const substituted = code.replace(/"?\$([A-Z_]+)"?/g, (_, name: string) => vars[name] ?? `$${name}`);
  return substituted.split(/\s+/);
}

/** `hubcast …` lines of a block, as argv without the leading `hubcast`. */
function hubcastLines(text: string, vars?: Record<string, string>): string[][] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("hubcast "))
    .map((line) => argv(line, vars).slice(1));
}

/** Points a `start` command at a free loopback port, whatever port it names. */
function onFreePort(args: string[]): string[] {
  const out = [...args];
  const at = out.indexOf("--port");
  if (at >= 0) out.splice(at, 2);
  return [...out, "--port", "0", "--host", "127.0.0.1"];
}

const cluster = new TestCluster();
const processes: ServerProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop("SIGKILL")));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await cluster.cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hubcast-readme-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(args: string[]): Promise<ServerProcess> {
  expect(args[0]).toBe("start");
  const server = await ServerProcess.start(onFreePort(args.slice(1)));
  processes.push(server);
  return server;
}

describe("README", () => {
  it("has a Node example that runs against a node as written", async () => {
    const code = block("js", "@hubcast/client");
    const { node, wsUrl } = await cluster.node({ demo: true });
    expect(node.options.demo).toBe(true);
    // Written inside the repo so that "@hubcast/client" and "ws" resolve as they would for a user.
    const file = fileURLToPath(new URL(`./.readme-example-${randomUUID()}.mjs`, import.meta.url));
    writeFileSync(file, code.replace("ws://localhost:8080/ws", wsUrl));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 10_000 });
      expect(stdout).toContain("hello from Node");
      expect(stdout).toMatch(/subscribed/);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("shows the script-tag example that docs/sdk.md runs in Chromium, word for word", () => {
    const sdkDoc = docBlocks(new URL("../docs/sdk.md", import.meta.url));
    const run = sdkDoc.find((b) => b.kind === "run" && b.id === "browser-script-tag");
    expect(run).toBeDefined();
    expect(block("html", "hubcast.iife.js")).toBe(run?.code);
  });

  it("streams a channel to curl as shown", async () => {
    const [curl = []] = block("sh", "curl -N")
      .split("\n")
      .filter((line) => line.startsWith("curl "))
      .map((line) => argv(line.replaceAll('"', "")));
    const { node } = await cluster.node({ demo: true });
    const args = curl.slice(1).map((a) => a.replace("http://localhost:8080", node.address.url));
    const child = spawn("curl", ["-s", ...args], { stdio: ["ignore", "pipe", "inherit"] });
    cleanups.push(() => {
      child.kill();
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    await eventually(() => out.includes('"subscribed"'), 5_000, "the subscribed line");
    await node.api.publish("demo:lobby", new TextEncoder().encode(JSON.stringify({ text: "hi" })));
    await eventually(() => out.includes('"publication"'), 5_000, "the publication line");
    const line = out.split("\n").find((l) => l.includes('"publication"')) ?? "";
    expect(JSON.parse(line)).toMatchObject({ type: "publication", channel: "demo:lobby", data: { text: "hi" } });
  });

  it("shows a protocol exchange that a node answers as shown", async () => {
    const lines = block("text", '"connect"').split("\n");
    const sent = lines.filter((l) => l.startsWith("→ ")).map((l) => l.slice(2));
    const shown = lines.filter((l) => l.startsWith("← ")).map((l) => JSON.parse(l.slice(2).replaceAll("…", "x")));
    const { wsUrl } = await cluster.node({ demo: true });
    const client = await RawClient.open(wsUrl);
    try {
      // One at a time, as shown: each command after the reply to the one before.
      for (const [i, expected] of shown.filter((f) => f.id !== undefined).entries()) {
        client.send(sent[i]);
        const reply = await client.waitFor((f) => f["id"] === expected.id, `reply ${expected.id}`);
        const method = Object.keys(expected).find((k) => k !== "id") ?? "";
        expect(Object.keys(reply[method] as object).sort()).toEqual(Object.keys(expected[method]).sort());
      }
      const publisher = await RawClient.connected(wsUrl);
      cleanups.push(async () => {
        await publisher.close();
      });
      await publisher.ok("publish", { channel: "demo:lobby", data: { text: "hi" } });
      const push = await client.waitFor((f) => f["publication"] !== undefined, "the publication");
      const expectedPush = shown.find((f) => f.publication !== undefined);
      expect(Object.keys(push["publication"] as object).sort()).toEqual(Object.keys(expectedPush.publication).sort());
    } finally {
      await client.close();
    }
  });

  it("has a config file example that a node starts with, namespaces and all", async () => {
    const dir = tempDir();
    const file = join(dir, "hubcast.json");
    writeFileSync(file, block("json", '"namespaces"'));
    const server = await start(["start", "--config", file]);
    const client = await RawClient.connected(server.wsUrl);
    try {
      await client.ok("subscribe", { channel: "chat:room1" });
      const published = await client.ok<{ position?: { offset: number } }>("publish", {
        channel: "chat:room1",
        data: { text: "hi" },
      });
      expect(published.position?.offset).toBe(1);
      await client.ok("subscribe", { channel: "prices:eur" });
    } finally {
      await client.close();
    }
  });

  it("starts many nodes on one Redis as shown, and `hubcast nodes` lists them", async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const lines = hubcastLines(block("sh", "hubcast nodes")).map((args) =>
      args.map((a) => a.replace("redis://127.0.0.1:6379", redis.url)),
    );
    const starts = lines.filter((args) => args[0] === "start");
    expect(starts).toHaveLength(2);
    for (const args of starts) await start(args);
    const nodes = lines.find((args) => args[0] === "nodes") ?? [];
    const { code, stdout, stderr } = await runCli(nodes);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^2 nodes, /m);
  });

  it("mints a token and starts a locked-down node as shown", async () => {
    const SECRET = randomUUID();
    const [token, lockedDown] = hubcastLines(block("sh", "hubcast token"), { SECRET });
    const minted = await runCli(token ?? []);
    expect(minted.code, minted.stderr).toBe(0);
    const server = await start(lockedDown ?? []);
    const origin = "https://app.example.com";
    const allowed = await RawClient.open(server.wsUrl, "hubcast.v1.json", { origin });
    try {
      const connected = await allowed.ok<{ client: string }>("connect", { token: minted.stdout.trim() });
      expect(connected.client).not.toBe("");
    } finally {
      await allowed.close();
    }
    const anonymous = await RawClient.open(server.wsUrl, "hubcast.v1.json", { origin });
    try {
      // Refused (101 unauthorized): anonymous connections are off.
      expect((await anonymous.fails("connect", {})).code).toBe(ErrorCode.unauthorized);
    } finally {
      await anonymous.close();
    }
  });

  it("measures a node as shown (scaled down)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "bench.json"), JSON.stringify({ namespaces: { bench: { allowPublish: true } } }));
    const [serve, bench] = hubcastLines(block("sh", "hubcast bench"));
    const server = await start((serve ?? []).map((a) => (a === "bench.json" ? join(dir, "bench.json") : a)));
    const scaled = (bench ?? []).map((a, i, all) => {
      const flag = all[i - 1];
      if (flag === "--url") return server.wsUrl;
      if (flag === "--connections") return "20";
      if (flag === "--duration") return "1";
      if (flag === "--out") return join(dir, a);
      return a;
    });
    const { code, stdout, stderr } = await runCli([...scaled, "--warmup", "0.5"], {}, 60_000);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/lost/);
    expect(existsSync(join(dir, "bench-out", "report.html"))).toBe(true);
  }, 60_000);

  it("serves the Pusher app its --pusher-app line names to pusher-js and the pusher SDK", async () => {
    const line = block("sh", "--pusher-app")
      .split("\n")
      .find((l) => l.startsWith("npx hubcast start"));
    const args = argv(line ?? "").slice(2); // without `npx hubcast`
    const server = await start(args);
    const [id = "", key = "", secret = ""] = (args[args.indexOf("--pusher-app") + 1] ?? "").split(":");
    const sdk = serverSdk(server.port, { id, key, secret });
    const client = pusherClient(server.port, sdk, { id: "reader" }, {}, key);
    cleanups.push(() => client.disconnect());
    await connected(client);
    const { channel } = await subscribed(client, "orders");
    const got = next(channel, "order-shipped");
    await sdk.trigger("orders", "order-shipped", { id: 1 });
    expect(await got).toEqual({ id: 1 });
  });
});
