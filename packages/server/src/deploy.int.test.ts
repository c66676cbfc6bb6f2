import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Client } from "@hubcast/client";
import { CloseCode } from "@hubcast/protocol";
import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EmulatedClient } from "../../../test/support/emulated-client.js";
import { eventually } from "../../../test/support/eventually.js";
import { DEPLOY_DIR, HAPROXY, HaproxyProcess, NGINX, NginxProcess } from "../../../test/support/load-balancers.js";
import type { LoadBalancer } from "../../../test/support/load-balancers.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { RawClient, withTimeout } from "../../../test/support/raw-client.js";
import { RedisServer } from "../../../test/support/redis.js";
import { startRedisNodes } from "../../../test/support/redis-nodes.js";
import { collectOptions, envName } from "./cli/settings.js";
import { NODE_DEFAULTS, NODE_OPTION_KEYS, resolveNodeOptions } from "./options.js";

// The shipped configs in deploy/, run by real nginx and HAProxy processes in front of real
// `hubcast start --engine redis` nodes. Each balancer test renders the shipped file with the
// nodes' loopback addresses in place of hubcast-1:8080 ... (test/support/load-balancers.ts).

const API_KEY = "deploy-test-api-key-0123456789";
/** Long enough that HAProxy (inter 1s, fall 2) marks a draining node down before it exits. */
const DRAIN_WINDOW_MS = 3_000;

type Start = (config: string, upstreams: string[]) => Promise<LoadBalancer>;

const BALANCERS = [
  { name: "nginx", installed: NGINX !== undefined, config: "hubcast.conf", start: (c, u) => NginxProcess.start(c, u) },
  {
    name: "HAProxy",
    installed: HAPROXY !== undefined,
    config: "hubcast.cfg",
    start: (c, u) => HaproxyProcess.start(c, u),
  },
] as const satisfies readonly { name: string; installed: boolean; config: string; start: Start }[];

const needs = (name: string): string =>
  `(skipped unless ${name.toLowerCase()} is installed: apt-get install ${name.toLowerCase()})`;
for (const { name, installed } of BALANCERS) {
  if (!installed)
    console.warn(
      `deploy.int.test.ts: ${name} is not installed, so its tests are skipped (apt-get install ${name.toLowerCase()})`,
    );
}

let redis: RedisServer | undefined;
const servers: ServerProcess[] = [];
const balancers: LoadBalancer[] = [];
const raw: RawClient[] = [];
const clients: Client[] = [];
const sockets: WebSocket[] = [];
const emulated: { close(): void }[] = [];

beforeAll(async () => {
  if (NGINX !== undefined || HAPROXY !== undefined) redis = await RedisServer.start();
});
afterAll(() => redis?.stop());
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const stream of emulated.splice(0)) stream.close();
  await Promise.all(raw.splice(0).map((c) => c.close()));
  await Promise.all(balancers.splice(0).map((b) => b.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

/** Three redis-engine nodes on the test's Redis, and `start(config)` balancing over them. */
async function deployment<B extends LoadBalancer>(
  start: (config: string, upstreams: string[]) => Promise<B>,
  config: string,
  extraArgs: string[] = [],
): Promise<{ nodes: ServerProcess[]; lb: B }> {
  if (redis === undefined) throw new Error("no Redis: neither nginx nor haproxy is installed");
  const { nodes } = await startRedisNodes(redis.url, 3, [
    "--drain-window-ms",
    String(DRAIN_WINDOW_MS),
    "--api-key",
    API_KEY,
    ...extraArgs,
  ]);
  servers.push(...nodes);
  const lb = await start(
    config,
    nodes.map((n) => `127.0.0.1:${n.port}`),
  );
  balancers.push(lb);
  return { nodes, lb };
}

/** WebSocket connections open on `node` now, by its own count (`hubcast_connections`). */
async function connectionsOn(node: ServerProcess): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const value = /^hubcast_connections (\d+)$/m.exec(text)?.[1];
  if (value === undefined) throw new Error(`no hubcast_connections in ${node.url}/metrics`);
  return Number(value);
}

/** Every node's connection count, once their sum is `total`. */
async function countsOnceTotal(nodes: ServerProcess[], total: number): Promise<number[]> {
  let counts: number[] = [];
  await eventually(
    async () => {
      counts = await Promise.all(nodes.map(connectionsOn));
      return counts.reduce((a, b) => a + b, 0) === total;
    },
    5_000,
    `${total} connections over the nodes`,
  );
  return counts;
}

/** Opens a connected WebSocket through `wsUrl` sending `headers`; resolves with the handshake's Set-Cookie headers. */
async function openWith(wsUrl: string, headers: Record<string, string> = {}): Promise<string[]> {
  const ws = new WebSocket(wsUrl, "hubcast.v1.json", { headers });
  sockets.push(ws);
  let setCookie: string[] = [];
  ws.once("upgrade", (res) => (setCookie = res.headers["set-cookie"] ?? []));
  const opened = new Promise<void>((resolveOpen, reject) => {
    ws.once("open", () => resolveOpen());
    ws.once("error", reject);
  });
  await withTimeout(opened, 5_000, `WebSocket through ${wsUrl}`);
  ws.send(JSON.stringify({ id: 1, connect: {} }));
  return setCookie;
}

describe.each(BALANCERS)(
  "$name with the shipped $config in front of three nodes",
  ({ name, installed, config, start }) => {
    it.skipIf(!installed)(
      `spreads 60 clients over all three nodes, which all receive a publication made through it once ${needs(name)}`,
      async () => {
        const { nodes, lb } = await deployment(start, config);
        const subscribers = await Promise.all(
          Array.from({ length: 60 }, async () => {
            const client = await RawClient.connected(lb.wsUrl);
            raw.push(client);
            await client.ok("subscribe", { channel: "chat:spread" });
            return client;
          }),
        );
        const counts = await countsOnceTotal(nodes, 60);
        for (const count of counts) expect(count).toBeGreaterThanOrEqual(1);

        await subscribers[0]?.ok("publish", { channel: "chat:spread", data: "hello" });
        await subscribers[59]?.ok("publish", { channel: "chat:spread", data: "fence" });
        for (const s of subscribers) {
          const publications = await s.waitForPushes<{ data: string }>("publication", 2, "chat:spread");
          expect(publications.map((p) => p.data)).toEqual(["hello", "fence"]);
        }

        // The API and the metrics stay private: reachable on a node, refused through the balancer.
        const auth = { headers: { authorization: `Bearer ${API_KEY}` } };
        expect((await fetch(`${lb.url}/api/nodes`, auth)).status).toBe(403);
        expect((await fetch(`${lb.url}/metrics`)).status).toBe(403);
        const direct = (await (await fetch(`${nodes[0]?.url ?? ""}/api/nodes`, auth)).json()) as { nodes: unknown[] };
        expect(direct.nodes).toHaveLength(3);
      },
    );

    it.skipIf(!installed)(
      `carries one-way streams unbuffered and two-way emulated connections whose POSTs land on any node ${needs(name)}`,
      async () => {
        const { nodes, lb } = await deployment(start, config);
        // NDJSON through the balancer: the publication arrives as it is made, not when a buffer fills.
        const abort = new AbortController();
        emulated.push({ close: () => abort.abort() });
        const res = await fetch(`${lb.url}/stream?channel=chat:lb`, { signal: abort.signal });
        expect(res.status).toBe(200);
        const lines: string[] = [];
        void (async () => {
          try {
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
              lines.push(
                ...new TextDecoder()
                  .decode(chunk)
                  .split("\n")
                  .filter((l) => l !== ""),
              );
          } catch {
            // aborted after the test
          }
        })();
        await eventually(() => lines.some((l) => l.includes('"subscribed"')), 5_000, "the subscribed line");
        const auth = { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" };
        const body = JSON.stringify({ channel: "chat:lb", data: { n: 1 } });
        await fetch(`${nodes[0]?.url ?? ""}/api/publish`, { method: "POST", headers: auth, body });
        await eventually(() => lines.some((l) => l.includes('"publication"')), 5_000, "the publication, unbuffered");

        // Two-way over HTTP through the balancer, which spreads the POSTs over the nodes: every
        // command is answered down the one stream, wherever it landed.
        const client = await EmulatedClient.open(lb.url);
        emulated.push(client);
        await client.waitFor((f) => f["id"] === 1, "the connect reply");
        await client.command("subscribe", { channel: "chat:lb" });
        for (let n = 0; n < 6; n++) {
          const reply = await client.command("publish", { channel: "chat:lb", data: { n: 10 + n } });
          expect(reply).toHaveProperty("publish");
        }
        await client.waitFor(
          (f) => (f["publication"] as { data?: { n?: number } } | undefined)?.data?.n === 15,
          "the last publication",
        );
      },
    );

    it.skipIf(!installed)(
      `SIGTERM to a node: no new connection lands on it, its clients reconnect through ${name} without a refused handshake, and all receive every publication once ${needs(name)}`,
      { timeout: 60_000 },
      async () => {
        const { nodes, lb } = await deployment(start, config, ["--log-level", "debug"]);
        const [victim, survivor] = nodes as [ServerProcess, ServerProcess, ServerProcess];
        const received: number[][] = [];
        const disconnects: number[][] = [];
        for (let i = 0; i < 60; i++) {
          const client = new Client(lb.wsUrl, {
            websocket: WebSocket,
            minReconnectDelayMs: 100,
            maxReconnectDelayMs: 1_000,
            timeoutMs: 10_000,
          });
          client.on("error", () => undefined); // a refused handshake also shows as `disconnected`, asserted below
          const codes: number[] = [];
          disconnects.push(codes);
          client.on("disconnected", ({ code }) => codes.push(code));
          clients.push(client);
          const seen: number[] = [];
          received.push(seen);
          const sub = client.newSubscription("chat:drain");
          sub.on("publication", (p) => seen.push(p.data as number));
          sub.subscribe();
          client.connect();
        }
        await Promise.all(clients.map((c) => c.getSubscription("chat:drain")?.ready(20_000)));
        const onVictim = await connectionsOn(victim);
        expect(onVictim).toBeGreaterThan(0);

        // Straight into a surviving node, so publishing never depends on the drain.
        const publisher = await RawClient.connected(survivor.wsUrl);
        raw.push(publisher);
        let published = 0;
        const publishing = (async () => {
          while (published < 100) {
            await publisher.ok("publish", { channel: "chat:drain", data: ++published });
            await new Promise((r) => setTimeout(r, 20)); // the publishing pace, not a wait for anything
          }
        })();
        await eventually(() => published >= 10, 10_000, "publishing to start");

        const markedDown = lb instanceof HaproxyProcess ? watchMarkedDown(lb, victim) : undefined;
        expect(await victim.stop("SIGTERM")).toBe(0);
        if (markedDown !== undefined) {
          // Taken out by its /readyz answering 503 (L7STS) while still draining, not by dying.
          expect(await markedDown).toEqual({ checkStatus: "L7STS", whileDraining: true });
        }
        if (victim.child.stdout?.readableEnded === false) await once(victim.child.stdout, "end");
        const drainStart = victim.logs.findIndex((l) => l["msg"] === "shutting down");
        expect(drainStart).toBeGreaterThanOrEqual(0);
        expect(victim.logs.slice(drainStart).filter((l) => l["msg"] === "websocket upgrade accepted")).toEqual([]);

        await publishing;
        await eventually(
          () =>
            clients.every((c) => c.state === "connected" && c.getSubscription("chat:drain")?.state === "subscribed"),
          20_000,
          "every client back",
        );
        await eventually(
          () => received.every((seen) => seen.at(-1) === 100),
          20_000,
          "every client to receive publication 100",
        );
        const expected = Array.from({ length: 100 }, (_, i) => i + 1);
        for (const seen of received) expect(seen).toEqual(expected);
        // The victim's clients were told to reconnect (3000) once; nobody else was disconnected,
        // and no reconnect was refused: the balancer sent every handshake to a node that took it.
        expect(disconnects.filter((codes) => codes.length > 0)).toHaveLength(onVictim);
        for (const codes of disconnects)
          expect(
            codes.length === 0 || (codes.length === 1 && codes[0] === CloseCode.shutdown),
            `disconnects ${codes.join(",")}`,
          ).toBe(true);
        await countsOnceTotal(nodes.slice(1), 61); // the 60 clients and the publisher, all on the survivors
      },
    );
  },
);

/** Resolves once HAProxy marks `node` (server hubcast-1) down: with which check status, and whether the node was still running. */
async function watchMarkedDown(
  lb: HaproxyProcess,
  node: ServerProcess,
): Promise<{ checkStatus: string | undefined; whileDraining: boolean }> {
  let row: Record<string, string> = {};
  let running = true;
  await eventually(
    async () => {
      running = node.child.exitCode === null;
      row = await lb.server("hubcast", "hubcast-1");
      return row["status"] === "DOWN";
    },
    10_000,
    "HAProxy to mark the draining node down",
  );
  return { checkStatus: row["check_status"], whileDraining: running };
}

describe("sticky variants", () => {
  it.skipIf(NGINX === undefined)(
    `nginx with hubcast-sticky-ip.conf sends every connection from 127.0.0.1 to one node ${needs("nginx")}`,
    async () => {
      const { nodes, lb } = await deployment((c, u) => NginxProcess.start(c, u), "hubcast-sticky-ip.conf");
      for (let i = 0; i < 20; i++) raw.push(await RawClient.connected(lb.wsUrl));
      expect((await countsOnceTotal(nodes, 20)).sort((a, b) => a - b)).toEqual([0, 0, 20]);
    },
  );

  it.skipIf(NGINX === undefined)(
    `nginx with hubcast-sticky-cookie.conf gives a cookie-less client a cookie that brings it back to the same node ${needs("nginx")}`,
    async () => {
      const { nodes, lb } = await deployment((c, u) => NginxProcess.start(c, u), "hubcast-sticky-cookie.conf");
      const setCookie = await openWith(lb.wsUrl);
      const affinity = /^hubcast_affinity=([^;]+);/.exec(setCookie[0] ?? "")?.[1];
      expect(affinity, `Set-Cookie on the handshake: ${setCookie.join(" | ")}`).toBeDefined();
      const first = await countsOnceTotal(nodes, 1);
      const home = first.indexOf(1);

      for (let i = 0; i < 10; i++)
        expect(await openWith(lb.wsUrl, { cookie: `hubcast_affinity=${affinity ?? ""}` })).toEqual([]);
      expect(await countsOnceTotal(nodes, 11)).toEqual(nodes.map((_, i) => (i === home ? 11 : 0)));

      // Cookie-less clients are placed by a random key each, not all on one node.
      for (let i = 0; i < 30; i++) await openWith(lb.wsUrl);
      const after = await countsOnceTotal(nodes, 41);
      const added = after.map((count, i) => count - (i === home ? 11 : 0));
      expect(added.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    },
  );

  it.skipIf(HAPROXY === undefined)(
    `HAProxy with hubcast-sticky.cfg sends requests with the SERVERID cookie it set to the same node ${needs("haproxy")}`,
    async () => {
      const { nodes, lb } = await deployment((c, u) => HaproxyProcess.start(c, u), "hubcast-sticky.cfg");
      const res = await fetch(`${lb.url}/healthz`);
      expect(res.status).toBe(200);
      const server = /^SERVERID=(hubcast-([123]));/.exec(res.headers.getSetCookie()[0] ?? "");
      expect(server, `Set-Cookie: ${res.headers.getSetCookie().join(" | ")}`).not.toBeNull();
      const home = Number(server?.[2]) - 1;

      for (let i = 0; i < 10; i++) await openWith(lb.wsUrl, { cookie: `SERVERID=${server?.[1] ?? ""}` });
      expect(await countsOnceTotal(nodes, 10)).toEqual(nodes.map((_, i) => (i === home ? 10 : 0)));
      // Without the cookie, least connections again: the next ten go to the other nodes.
      for (let i = 0; i < 10; i++) await openWith(lb.wsUrl);
      expect((await countsOnceTotal(nodes, 20))[home]).toBe(10);
    },
  );
});

describe("shipped deployment files", () => {
  const read = (path: string): string => readFileSync(join(DEPLOY_DIR, path), "utf8");
  /** The variables of an env file or compose `environment:` block, without comments. */
  const variables = (text: string): Record<string, string> =>
    Object.fromEntries(
      [...text.matchAll(/^[ \t]*(HUBCAST_[A-Z_]+)[ \t]*[=:][ \t]*"?([^"\n]*?)"?$/gm)].map((m) => [
        m[1] ?? "",
        m[2] ?? "",
      ]),
    );

  it("compose.yaml runs Redis with AOF, three redis-engine nodes and nginx with the shipped nginx config", () => {
    const text = read("docker/compose.yaml");
    const servicesBlock = /^services:\n([\s\S]*?)^\S/m.exec(text)?.[1] ?? "";
    const services = [...servicesBlock.matchAll(/^ {2}([a-z0-9-]+):$/gm)].map((m) => m[1]);
    expect(services).toEqual(["redis", "hubcast-1", "hubcast-2", "hubcast-3", "nginx"]);
    expect(text).toContain('"--appendonly", "yes"');
    expect(variables(text)["HUBCAST_ENGINE"]).toBe("redis");

    const mount = /^\s*- (\.\.\/nginx\/[\w.-]+):\/etc\/nginx\/conf\.d\/default\.conf:ro$/m.exec(text)?.[1];
    expect(mount).toBe("../nginx/hubcast.conf");
    const nginxConfig = readFileSync(resolve(DEPLOY_DIR, "docker", mount ?? ""), "utf8");
    expect([...nginxConfig.matchAll(/^\s*server (hubcast-\d):8080 /gm)].map((m) => m[1])).toEqual([
      "hubcast-1",
      "hubcast-2",
      "hubcast-3",
    ]);
    const dockerfile = /^\s*dockerfile: (\S+)$/m.exec(text)?.[1] ?? "";
    expect(existsSync(resolve(DEPLOY_DIR, "docker", "../..", dockerfile)), dockerfile).toBe(true);
  });

  it("sets only real options, to values a node accepts", () => {
    const known = new Set([...NODE_OPTION_KEYS.map(envName), "HUBCAST_CONFIG"]);
    for (const file of ["docker/compose.yaml", "systemd/hubcast.env"]) {
      const env = variables(read(file));
      for (const name of Object.keys(env)) expect(known, `${file}: ${name}`).toContain(name);
      delete env["HUBCAST_CONFIG"]; // a path on the target machine
      const options = collectOptions(
        {},
        {
          ...env,
          HUBCAST_API_KEY: env["HUBCAST_API_KEY"]?.startsWith("$") === true ? API_KEY : env["HUBCAST_API_KEY"],
        },
      );
      expect(() => resolveNodeOptions(options), file).not.toThrow();
    }
  });

  it("gives systemd more time to stop than the node takes to drain", () => {
    const stopSec = Number(/^TimeoutStopSec=(\d+)s$/m.exec(read("systemd/hubcast.service"))?.[1]);
    const windowMs = Number(
      variables(read("systemd/hubcast.env"))["HUBCAST_DRAIN_WINDOW_MS"] ?? NODE_DEFAULTS.drainWindowMs,
    );
    expect(stopSec * 1_000).toBeGreaterThanOrEqual(windowMs + 5_000);
  });

  it("docs/deploy.md shows the shipped sysctl file as it is", () => {
    const doc = readFileSync(join(DEPLOY_DIR, "../docs/deploy.md"), "utf8");
    expect(doc).toContain(read("sysctl/99-hubcast.conf"));
  });
});
