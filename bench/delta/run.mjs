#!/usr/bin/env node
/**
 * Delta compression on a realistic state stream: a ~2 KB JSON document of which each
 * publication changes a few fields. For each wire encoding, with and without deltas, with and
 * without permessage-deflate, one real node (memory engine, in this process) delivers the
 * stream to one real SDK subscriber over loopback; a tap under the subscriber's socket counts
 * the bytes that arrive (TCP payload: WebSocket headers and compressed payloads); a backend
 * publishes through the HTTP API, as a state stream's source usually does. Then the CPU
 * cost of the two new steps is timed on the same stream: the node's delta computation (once per
 * publication on a node) and the SDK's applying of it. Every delivery is checked against what
 * was published. See README.md.
 */
import { createConnection } from "node:net";
import { deflateRawSync } from "node:zlib";
import { parseArgs } from "node:util";
import { Client } from "@hubcast/client/protobuf";
import { createNode } from "@hubcast/server";
import { applyDelta, createDelta } from "fossil-delta";
import { WebSocket } from "ws";

const { values: args } = parseArgs({
  options: {
    publications: { type: "string", default: "300" },
    changes: { type: "string", default: "3" },
    seed: { type: "string", default: "42" },
    "cpu-rounds": { type: "string", default: "20" },
  },
});
const PUBLICATIONS = positive("publications");
const CHANGES = positive("changes");
const CPU_ROUNDS = positive("cpu-rounds");

function positive(name) {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`--${name} must be a positive integer, got ${args[name]}`);
  return value;
}

/** A small deterministic PRNG (mulberry32), so every run publishes the same stream. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The state of a delivery fleet: 16 vehicles; each version moves or updates `CHANGES` fields. */
function stateStream() {
  const next = random(Number(args.seed));
  const vehicles = Array.from({ length: 16 }, (_, i) => ({
    id: `truck-${String(i).padStart(3, "0")}`,
    driver: `Driver ${i}`,
    status: "en-route",
    lat: 52.5 + next() / 10,
    lon: 13.4 + next() / 10,
    speedKmh: Math.round(next() * 90),
    fuelPct: 40 + Math.round(next() * 60),
  }));
  const doc = { fleet: "berlin-north", version: 0, updatedAt: 1_767_225_600_000, vehicles };
  const stream = [];
  for (let n = 1; n <= PUBLICATIONS; n++) {
    doc.version = n;
    doc.updatedAt += 1000;
    for (let c = 0; c < CHANGES; c++) {
      const v = vehicles[Math.floor(next() * vehicles.length)];
      const field = ["lat", "lon", "speedKmh", "fuelPct", "status"][Math.floor(next() * 5)];
      if (field === "lat" || field === "lon") v[field] = Number((v[field] + (next() - 0.5) / 1000).toFixed(6));
      else if (field === "status") v.status = v.status === "en-route" ? "delivering" : "en-route";
      else v[field] = Math.round(next() * 100);
    }
    stream.push(JSON.parse(JSON.stringify(doc)));
  }
  return stream;
}

const API_KEY = "bench-delta-api-key-0123456789";

/** Publishes as a backend does, through the HTTP API: the publication carries no publisher `info`. */
async function publish(url, channel, data) {
  const response = await fetch(`${url}/api/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ channel, data }),
  });
  if (!response.ok) throw new Error(`publish answered ${response.status}: ${await response.text()}`);
}

/** One run: a node, a counting subscriber, a backend publishing; returns wire bytes per delivery. */
async function measure(stream, { protocol, delta, deflate }) {
  const node = await createNode({
    port: 0,
    host: "127.0.0.1",
    logLevel: "silent",
    demo: false,
    compression: deflate,
    apiKey: API_KEY,
    namespaces: { fleet: { allowPublish: true, allowDelta: true, historySize: 10 } },
  });
  const { url } = await node.start();
  const wsUrl = `${url.replace(/^http/, "ws")}${node.options.path}`;
  let wireBytes = 0;
  /** `ws` with a byte counter under it, offering permessage-deflate as a browser does. */
  class CountingWebSocket extends WebSocket {
    constructor(address, protocols) {
      super(address, protocols, {
        perMessageDeflate: deflate ? { clientNoContextTakeover: true, serverNoContextTakeover: true } : false,
        createConnection: (options) => {
          const socket = createConnection(options);
          socket.on("data", (chunk) => {
            wireBytes += chunk.length;
          });
          return socket;
        },
      });
    }
  }
  const subscriber = new Client(wsUrl, { protocol, websocket: CountingWebSocket });
  try {
    subscriber.connect();
    const sub = subscriber.newSubscription("fleet:north", delta ? { delta: "fossil" } : {});
    const received = [];
    const all = new Promise((resolve) =>
      sub.on("publication", ({ data }) => {
        received.push(data);
        if (received.length === stream.length) resolve();
      }),
    );
    sub.subscribe();
    await sub.ready();
    const before = wireBytes;
    for (const doc of stream) await publish(url, "fleet:north", doc);
    await all;
    const bytes = wireBytes - before;
    const exact = received.every((data, i) => JSON.stringify(data) === JSON.stringify(stream[i]));
    if (!exact)
      throw new Error(`${protocol} delta=${delta} deflate=${deflate}: a delivery differs from its publication`);
    return bytes / stream.length;
  } finally {
    subscriber.disconnect();
    await node.close();
  }
}

/** Median of `rounds` timings of `fn` over the stream, in µs per publication. */
function microsPerPublication(rounds, fn) {
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / PUBLICATIONS);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

function cpuCosts(stream) {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const payloads = stream.map((doc) => encoder.encode(JSON.stringify(doc)));
  const deltas = payloads.map((payload, i) => (i === 0 ? payload : createDelta(payloads[i - 1], payload)));
  const create = microsPerPublication(CPU_ROUNDS, () => {
    for (let i = 1; i < payloads.length; i++) createDelta(payloads[i - 1], payloads[i]);
  });
  // What the SDK does per publication: parse the full text, or apply the delta first.
  const texts = payloads.map((payload) => decoder.decode(payload));
  const parseOnly = microsPerPublication(CPU_ROUNDS, () => {
    for (const text of texts) JSON.parse(text);
  });
  const applyAndParse = microsPerPublication(CPU_ROUNDS, () => {
    let base = payloads[0];
    for (let i = 1; i < deltas.length; i++) {
      base = applyDelta(base, deltas[i]);
      JSON.parse(decoder.decode(base));
    }
  });
  const sizes = deltas.slice(1);
  const deltaBytes = sizes.reduce((sum, delta) => sum + delta.length, 0) / sizes.length;
  const deflatedBytes = sizes.reduce((sum, delta) => sum + deflateRawSync(delta).length, 0) / sizes.length;
  return { create, parseOnly, applyAndParse, deltaBytes, deflatedBytes };
}

const stream = stateStream();
const docBytes = stream.reduce((sum, doc) => sum + JSON.stringify(doc).length, 0) / stream.length;
const rows = [];
for (const protocol of ["json", "protobuf"]) {
  for (const deflate of [false, true]) {
    const full = await measure(stream, { protocol, delta: false, deflate });
    const withDelta = await measure(stream, { protocol, delta: true, deflate });
    rows.push({ protocol, deflate, full, withDelta });
  }
}
const cpu = cpuCosts(stream);
const baseline = rows.find((row) => row.protocol === "json" && !row.deflate)?.full ?? Number.NaN;

const f = (n, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(
  `State stream: ${PUBLICATIONS} publications of a ${f(docBytes)}-byte JSON document, ${CHANGES} fields changed per publication.`,
);
console.log("Wire bytes per delivery at the subscriber (TCP payload), first publication included:\n");
console.log("| encoding | permessage-deflate | full | delta | full ÷ delta | vs plain JSON |");
console.log("|---|---|---|---|---|---|");
for (const { protocol, deflate, full, withDelta } of rows) {
  console.log(
    `| ${protocol} | ${deflate ? "on" : "off"} | ${f(full)} | ${f(withDelta)} | ${f(full / withDelta, 1)}× | ${f(baseline / withDelta, 1)}× |`,
  );
}
console.log(
  `\nA delta averages ${f(cpu.deltaBytes)} bytes (${f(cpu.deflatedBytes)} deflated on its own); the rest of a delta frame is its head.`,
);
console.log(`\nCPU, median of ${CPU_ROUNDS} passes over the stream, per publication:`);
console.log(`- node, computing the delta (once per publication per node): ${f(cpu.create, 1)} µs`);
console.log(`- SDK, JSON.parse of the full data: ${f(cpu.parseOnly, 1)} µs`);
console.log(`- SDK, applying the delta, then JSON.parse: ${f(cpu.applyAndParse, 1)} µs`);
