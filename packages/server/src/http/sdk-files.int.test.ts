import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, get } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "../../../../test/support/nodes.js";
import { loadSdkFiles, serveSdk } from "./sdk-files.js";

const require = createRequire(import.meta.url);
/** The bundles as the package ships them, found through its `exports` the way users reach them. */
const shipped = (name: string): Buffer => readFileSync(require.resolve(`@hubcast/client/browser/${name}`));
const VERSION = (require("@hubcast/client/package.json") as { version: string }).version;
const BUNDLES = ["hubcast.js", "hubcast.iife.js", "hubcast-protobuf.js"];

const cluster = new TestCluster();
let base = "";

beforeAll(async () => {
  const { node } = await cluster.node({ demo: false });
  base = node.address.url;
});
afterAll(() => cluster.cleanup());

function expectSdkHeaders(res: Response, type: string): void {
  expect(res.headers.get("content-type")).toBe(type);
  expect(res.headers.get("access-control-allow-origin")).toBe("*");
  expect(res.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
}

describe("/sdk/ on a node with the demo off", () => {
  it.each(BUNDLES)(
    "serves %s and its source map as the package ships them, revalidated after 5 minutes",
    async (name) => {
      const res = await fetch(`${base}/sdk/${name}`);
      expect(res.status).toBe(200);
      expectSdkHeaders(res, "text/javascript; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("public, max-age=300");
      expect(res.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(shipped(name))).toBe(true);
      expect(body.toString("utf8").trimEnd().endsWith(`//# sourceMappingURL=${name}.map`)).toBe(true);

      const map = await fetch(`${base}/sdk/${name}.map`);
      expect(map.status).toBe(200);
      expectSdkHeaders(map, "application/json; charset=utf-8");
      expect((await map.json()) as { version: number }).toMatchObject({ version: 3 });
    },
  );

  it("answers HEAD with the GET headers and no body", async () => {
    const get = await fetch(`${base}/sdk/hubcast.js`);
    const head = await fetch(`${base}/sdk/hubcast.js`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expectSdkHeaders(head, "text/javascript; charset=utf-8");
    expect(head.headers.get("content-length")).toBe(String(shipped("hubcast.js").length));
    expect(head.headers.get("etag")).toBe(get.headers.get("etag"));
    expect(await head.text()).toBe("");
  });

  it("answers 304 to a matching If-None-Match, strong or weak, and 200 to a stale one", async () => {
    const etag = (await fetch(`${base}/sdk/hubcast.iife.js`)).headers.get("etag") ?? "";
    for (const tag of [etag, `W/${etag}`, `"stale", ${etag}`, "*"]) {
      const res = await fetch(`${base}/sdk/hubcast.iife.js`, { headers: { "If-None-Match": tag } });
      expect(res.status, tag).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect(res.headers.get("cache-control")).toBe("public, max-age=300");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(await res.text()).toBe("");
    }
    const stale = await fetch(`${base}/sdk/hubcast.iife.js`, { headers: { "If-None-Match": '"stale"' } });
    expect(stale.status).toBe(200);
  });

  it("serves the installed version's files as immutable under /sdk/<version>/", async () => {
    const res = await fetch(`${base}/sdk/${VERSION}/hubcast.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(Buffer.from(await res.arrayBuffer()).equals(shipped("hubcast.js"))).toBe(true);
    expect((await fetch(`${base}/sdk/${VERSION}/hubcast.js.map`)).status).toBe(200);
    expect((await fetch(`${base}/sdk/0.0.0-other/hubcast.js`)).status).toBe(404);
  });

  it.each(["/sdk/nope.js", "/sdk/", "/sdk/..%2Fpackage.json", "/sdk/hubcast.js/x"])(
    "answers 404 with the API's error body, readable from any origin, for %s",
    async (path) => {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(404);
      expectSdkHeaders(res, "application/json; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-store");
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("not_found");
      expect(body.error.message).toContain("hubcast.iife.js");
    },
  );

  it("never reads outside the bundles: a raw dot-dot path is a 404", async () => {
    // fetch() would normalise the path; a raw request sends it as written.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      get(`${base}/sdk/../../package.json`, { path: "/sdk/../../package.json" }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on("error", reject);
    });
    expect(status).toBe(404);
  });

  it("refuses other methods", async () => {
    expect((await fetch(`${base}/sdk/hubcast.js`, { method: "POST" })).status).toBe(405);
  });

  it("does not serve the demo page", async () => {
    expect((await fetch(`${base}/`)).status).toBe(404);
  });
});

describe("/sdk/ on a node with the demo on", () => {
  it("serves the bundles, and the demo page loads the SDK from there", async () => {
    const { node } = await cluster.node({ demo: true });
    const demoBase = node.address.url;
    expect((await fetch(`${demoBase}/sdk/hubcast.js`)).status).toBe(200);
    expect(await (await fetch(`${demoBase}/demo.js`)).text()).toContain('from "./sdk/hubcast.js"');
    expect((await fetch(`${demoBase}/hubcast.js`)).status).toBe(404);
  });
});

describe("a node whose SDK is not built", () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("logs one warning and answers 404 under /sdk/ saying how to build it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hubcast-sdk-"));
    dirs.push(dir);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
        done();
      },
    });
    const sdk = await loadSdkFiles(pino({ level: "info" }, sink), join(dir, "browser"));
    const warnings = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40 });
    expect(warnings[0]?.msg).toContain("the browser SDK is not built");

    const server = createServer((req, res) => serveSdk(req, res, req.url ?? "/", sdk));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/sdk/hubcast.js`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        code: "not_found",
        message: `the browser SDK is not available on this node: the browser SDK is not built (no bundles in ${join(dir, "browser")}); run \`npm run build\` in the repository`,
      },
    });
  });
});
