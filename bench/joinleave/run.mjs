#!/usr/bin/env node
/**
 * What a room filling up costs in join/leave pushes: starts one Hubcast node (memory engine)
 * whose namespace `room` has `joinLeave` on, opens `--members` WebSocket connections at
 * `--rate` per second, each subscribing to the same channel, waits until the node has been
 * quiet for a second, and reads from the node's own /metrics what it sent: frames and bytes of
 * `members` pushes (and of single `join`/`leave` pushes, which a build before batching sends).
 * Point `--cli` at another build's `packages/server/dist/cli/main.js` to measure it the same way.
 *
 *   node bench/joinleave/run.mjs --members 10000 --rate 2000
 *   node bench/joinleave/run.mjs --members 1000 --cli /tmp/before/packages/server/dist/cli/main.js
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Processes } from "../peers/lib/processes.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { WebSocket } = createRequire(join(repo, "package.json"))("ws");

const USAGE = `usage: node bench/joinleave/run.mjs [--members N] [--rate PER_SECOND] [--cli PATH] [--json]
  --members  connections that subscribe to one channel (default 1000)
  --rate     new members per second (default 1000)
  --cli      the hubcast CLI to start (default: this repository's build)
  --json     print the result as JSON`;

function options() {
  const { values } = parseArgs({
    options: {
      members: { type: "string", default: "1000" },
      rate: { type: "string", default: "1000" },
      cli: { type: "string", default: join(repo, "packages/server/dist/cli/main.js") },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const members = Number(values.members);
  const rate = Number(values.rate);
  if (!Number.isInteger(members) || members < 1 || !(rate > 0)) {
    process.stderr.write(`joinleave: --members must be a positive integer and --rate positive\n${USAGE}\n`);
    process.exit(2);
  }
  return { members, rate, cli: values.cli, json: values.json };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sent-frame and sent-byte counters of the node, by type. */
async function sentByType(httpUrl) {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const sent = {};
  for (const line of text.split("\n")) {
    const match = /^hubcast_(messages|bytes)_sent_total\{type="([a-z]+)"\} (\d+)/.exec(line);
    if (match === null) continue;
    sent[match[2]] ??= { frames: 0, bytes: 0 };
    sent[match[2]][match[1] === "messages" ? "frames" : "bytes"] = Number(match[3]);
  }
  return sent;
}

/** Opens one member: connect, then (after its reply) subscribe; counts what it receives. */
function openMember(url, counts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, "hubcast.v1.json", { perMessageDeflate: false });
    ws.once("error", reject);
    ws.once("open", () => ws.send('{"id":1,"connect":{}}'));
    ws.on("message", (data) => {
      counts.frames += 1;
      counts.bytes += data.length;
      counts.lastAt = Date.now();
      if (data.length > 200 || !data.toString().startsWith('{"id":')) return;
      const reply = JSON.parse(data.toString());
      if (reply.error !== undefined) reject(new Error(`command ${reply.id}: ${reply.error.message}`));
      else if (reply.id === 1) ws.send('{"id":2,"subscribe":{"channel":"room:fill"}}');
      else resolve(ws);
    });
  });
}

async function main() {
  const { members, rate, cli, json } = options();
  const dir = mkdtempSync(join(tmpdir(), "hubcast-joinleave-"));
  const config = join(dir, "hubcast.json");
  writeFileSync(config, JSON.stringify({ demo: false, namespaces: { room: { joinLeave: true } } }));
  const processes = new Processes(dir);
  // The node runs in its own process group: it must not outlive this script, however it ends.
  process.on("exit", () => processes.killAll());
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));
  const sockets = [];
  try {
    const node = await processes.start({
      label: "hubcast",
      command: process.execPath,
      args: [cli, "start", "--config", config, "--port", "0", "--command-rate-per-second", "0"].concat([
        "--max-connections-per-second",
        "0",
        "--drain-window-ms",
        "0",
      ]),
      ready: /"msg":"hubcast listening"/,
    });
    const httpUrl = JSON.parse(node.lines.at(-1)).url;
    const counts = { frames: 0, bytes: 0, lastAt: Date.now() };
    const started = Date.now();
    for (let i = 0; i < members; i += 1) {
      const due = started + (i * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      sockets.push(openMember(`${httpUrl.replace(/^http/, "ws")}/ws`, counts));
    }
    await Promise.all(sockets);
    const filledMs = Date.now() - started;
    while (Date.now() - counts.lastAt < 1_000) await sleep(200);
    const sent = await sentByType(httpUrl);
    const pick = (type) => sent[type] ?? { frames: 0, bytes: 0 };
    const joinLeave = ["members", "join", "leave"].map(pick);
    const result = {
      members,
      ratePerSecond: rate,
      filledMs,
      pushes: joinLeave.reduce((sum, s) => sum + s.frames, 0),
      pushBytes: joinLeave.reduce((sum, s) => sum + s.bytes, 0),
      byType: { members: pick("members"), join: pick("join"), leave: pick("leave") },
      onePushPerJoin: (members * (members + 1)) / 2,
      received: { frames: counts.frames, bytes: counts.bytes },
      cli,
    };
    if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(
        `${members} members at ${rate}/s, filled in ${(filledMs / 1000).toFixed(1)} s: ` +
          `${result.pushes.toLocaleString("en")} join/leave pushes, ${(result.pushBytes / 1e6).toFixed(1)} MB ` +
          `(one push per join would be ${result.onePushPerJoin.toLocaleString("en")})\n`,
      );
    }
  } finally {
    for (const socket of sockets)
      socket.then(
        (ws) => ws.terminate(),
        () => undefined,
      );
    await processes.stopAll();
  }
}

main().catch((err) => {
  process.stderr.write(`joinleave: ${err?.stack ?? err}\n`);
  process.exit(1);
});
