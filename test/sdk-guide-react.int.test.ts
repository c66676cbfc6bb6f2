import { execFile } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../packages/client/src/index.js";
import type { NodeOptions } from "../packages/server/src/options.js";
import { eventually } from "./support/eventually.js";
import { markedExamples, program, readGuide } from "./support/guide-examples.js";
import { TestCluster } from "./support/nodes.js";
import { TEST_SECRET, sign } from "./support/tokens.js";

const CHROMIUM_PATH = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"];
const WAIT_MS = 15_000;
const CHANNEL = "chat:lobby";

const examples = markedExamples(readGuide());
const root = fileURLToPath(new URL("..", import.meta.url));
// Inside the repo, so that "react", "react-dom" and "@hubcast/client" resolve as in an app.
const appDir = join(root, "test", `.sdk-guide-react-${randomUUID()}`);
const cluster = new TestCluster();
let server: Server | undefined;
let browser: Browser | undefined;
let nodeClient: Client | undefined;

afterAll(async () => {
  nodeClient?.disconnect();
  await browser?.close();
  await new Promise((done) => (server === undefined ? done(undefined) : server.close(done)));
  await cluster.cleanup();
  rmSync(appDir, { recursive: true, force: true });
});

/** Writes the guide's React files (`<!-- guide: react/<file> -->`) into `appDir`; returns their names. */
function writeApp(wsUrl: string): string[] {
  mkdirSync(appDir, { recursive: true });
  const names = [...examples.keys()].filter((name) => name.startsWith("react/")).map((name) => name.slice(6));
  for (const name of names) {
    let code = program(examples, `react/${name}`);
    if (name === "main.tsx") {
      code = code.replace("wss://hubcast.example.com/ws", wsUrl);
      // Lets the test unmount the app as a navigation away would.
      code += "\nObject.assign(window, { unmountApp: () => root.unmount() });\n";
    }
    writeFileSync(join(appDir, name), code);
  }
  return names;
}

describe.skipIf(!existsSync(CHROMIUM_PATH))("docs/sdk-guide.md React hook (Chromium)", () => {
  let pageUrl = "";
  let wsUrl = "";

  beforeAll(async () => {
    const namespaces = (JSON.parse(program(examples, "config")) as { namespaces: NodeOptions["namespaces"] })
      .namespaces;
    ({ wsUrl } = await cluster.node({ namespaces, tokenHmacSecret: TEST_SECRET }));
    expect(writeApp(wsUrl)).toEqual(expect.arrayContaining(["use-subscription.tsx", "room.tsx", "main.tsx"]));
    const bundle = await build({
      entryPoints: [join(appDir, "main.tsx")],
      bundle: true,
      write: false,
      format: "iife",
      jsx: "automatic",
      target: "es2020",
      // Development React: strict mode mounts every effect twice, as it does for developers.
      define: { "process.env.NODE_ENV": '"development"' },
      logLevel: "silent",
    });
    const script = bundle.outputFiles[0]?.text ?? "";
    server = createServer((request, response) => {
      if (request.url === "/hubcast-token") {
        void sign({ sub: "bob" }, { ttlSeconds: 600 }).then((token) => response.end(token));
        return;
      }
      response.setHeader("content-type", "text/html; charset=utf-8");
      response.end(
        `<!doctype html><div id="root"></div><script>${script.replaceAll("</script", "<\\/script")}</script>`,
      );
    });
    await new Promise<void>((done) => server?.listen(0, "127.0.0.1", done));
    pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: WAIT_MS });
  }, 60_000);

  it("typechecks against @hubcast/client's and React's types", async () => {
    writeFileSync(
      join(appDir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022", "DOM"],
          module: "ESNext",
          moduleResolution: "Bundler",
          jsx: "react-jsx",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        include: ["*.tsx"],
      }),
    );
    const tsc = join(root, "tools/sdk-docs/node_modules/.bin/tsc");
    const run = await promisify(execFile)(tsc, ["-p", appDir], { timeout: 60_000 }).catch(
      (error: { stdout?: string; code?: number }) => ({
        stdout: `exit ${error.code}: ${error.stdout ?? ""}`,
        stderr: "",
      }),
    );
    expect(run.stdout, "the guide's React code does not typecheck").toBe("");
  }, 60_000);

  it("subscribes on mount, shows publications, and unsubscribes on unmount", async () => {
    // A Node client in the same channel publishes and watches presence.
    nodeClient = new Client(wsUrl, { websocket: WebSocket, getToken: () => sign({ sub: "alice" }) });
    const watcher = nodeClient.newSubscription(CHANNEL);
    watcher.subscribe();
    nodeClient.connect();
    await watcher.ready();

    const page = await (browser as Browser).newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning")
        problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
    await page.goto(pageUrl, { timeout: WAIT_MS });
    await page.getByText("subscribed", { exact: true }).waitFor({ timeout: WAIT_MS });

    // Strict mode mounted twice: still exactly one subscription from the page, bob's.
    const present = await watcher.presence();
    expect(
      Object.values(present.clients)
        .map((c) => c.user)
        .sort(),
    ).toEqual(["alice", "bob"]);

    await watcher.publish({ text: "hello from Node" });
    await page.getByText('{"text":"hello from Node"}').waitFor({ timeout: WAIT_MS });

    await page.evaluate(() => (window as unknown as { unmountApp: () => void }).unmountApp());
    await eventually(async () => (await watcher.presenceStats()).numClients === 1, WAIT_MS, "the page to unsubscribe");
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
