// What permessage-deflate costs and saves per publication: deflate time on the node (once per
// publication and codec, whatever the subscriber count), wire bytes, and inflate time on a
// client, for JSON publication data of 64 bytes and 4 KiB. Used for docs/compression.md.
//
//   npx tsc -b && node packages/server/scripts/compression-cost.mjs
//
// Times are the median of 7 rounds of `iterations` calls each, after a warm-up, on one core.
import { constants, createDeflateRaw, inflateRawSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { JsonCodec } from "@hubcast/protocol";
import { MessageDeflater } from "../dist/transport/deflate.js";
import { buildFrame } from "../dist/transport/frame.js";

const codec = new JsonCodec();
const utf8 = (value) => new TextEncoder().encode(JSON.stringify(value));
const publication = (channel, data) => codec.encodePublication({ channel, offset: 123_456, data: utf8(data) });

let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "ORCL"];
const tick = () => ({
  symbol: SYMBOLS[Math.floor(random() * SYMBOLS.length)],
  bid: Number((100 + random() * 100).toFixed(2)),
  ask: Number((100 + random() * 100).toFixed(2)),
  size: Math.floor(random() * 1000),
  ts: 1_712_345_678_901 + Math.floor(random() * 1e6),
  venue: "XNAS",
});

/** A chat message whose data is exactly 64 bytes of JSON. */
function chat64() {
  const text = "hello there, how are you today?";
  const empty = JSON.stringify({ user: "alice", text: "" }).length;
  return { user: "alice", text: text.padEnd(64 - empty, "?").slice(0, 64 - empty) };
}
/** Price ticks: repeated keys, varying numbers; as many as fit in 4 KiB of JSON. */
function ticks4k() {
  const rows = [];
  for (let next = tick(); JSON.stringify([...rows, next]).length <= 4096; next = tick()) rows.push(next);
  return rows;
}
/** Random bytes in base64, about 4 KiB: what deflate does to data that is not text. */
const base64k = () => ({ blob: randomBytes(3050).toString("base64") });

function timeUs(fn, iterations) {
  for (let i = 0; i < iterations / 4; i++) fn();
  const rounds = [];
  for (let r = 0; r < 7; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - start) / iterations / 1000);
  }
  return rounds.sort((a, b) => a - b)[3];
}

const payloads = [
  ["chat message", "chat:lobby", chat64()],
  ["price ticks", "prices:us", ticks4k()],
  ["base64 blob", "blobs:x", base64k()],
].map(([name, channel, data]) => [`${name}, ${JSON.stringify(data).length} B data`, publication(channel, data)]);
console.log(`node ${process.version}; deflate once per publication (MessageDeflater.frame), inflate as a client does`);
console.log(
  "payload | publication bytes | level | deflate µs | frame bytes (plain → sent) | sent/plain | client inflate µs | framing alone µs",
);
for (const [name, payload] of payloads) {
  const plain = buildFrame(payload, false);
  const frameUs = timeUs(() => buildFrame(payload, false), 50_000);
  for (const level of [1, 3, 6, 9]) {
    const deflater = new MessageDeflater({ thresholdBytes: 0, level });
    const deflateUs = timeUs(() => deflater.frame(payload, false), 10_000);
    const sent = deflater.frame(payload, false) ?? plain;
    const compressed = sent !== plain;
    const body = Buffer.concat([deflater.deflate(payload), Buffer.from([0, 0, 0xff, 0xff])]);
    const inflateUs = timeUs(() => inflateRawSync(body, { finishFlush: constants.Z_SYNC_FLUSH }), 10_000);
    console.log(
      `${name} | ${payload.length} | ${level} | ${deflateUs.toFixed(1)} | ${plain.length} → ${sent.length}${compressed ? "" : " (plain: no gain)"} | ${(sent.length / plain.length).toFixed(2)} | ${compressed ? inflateUs.toFixed(1) : "-"} | ${frameUs.toFixed(2)}`,
    );
  }
}

// What no context takeover gives up: 200 short chat publications deflated one by one (as Hubcast
// does) versus through one stream that keeps its window (context takeover, one per connection).
const chats = Array.from({ length: 200 }, (_, i) =>
  publication("chat:lobby", {
    user: ["alice", "bob", "carol"][i % 3],
    text: `message number ${i} about the weather ${(i * 7) % 13}`,
  }),
);
const alone = new MessageDeflater({ thresholdBytes: 0, level: 3 });
const aloneBytes = chats.reduce((sum, p) => sum + alone.deflate(p).length, 0);
const stream = createDeflateRaw({ level: 3 });
const out = [];
stream.on("data", (chunk) => out.push(chunk));
let streamBytes = 0;
for (const p of chats) {
  stream.write(p);
  await new Promise((resolve) => stream.flush(constants.Z_SYNC_FLUSH, resolve));
  streamBytes += Buffer.concat(out.splice(0)).length - 4;
}
const rawBytes = chats.reduce((sum, p) => sum + p.length, 0);
console.log(
  `\n${chats.length} chat publications, mean bytes: ${(rawBytes / chats.length).toFixed(0)} plain, ${(aloneBytes / chats.length).toFixed(0)} deflated alone (no context takeover), ${(streamBytes / chats.length).toFixed(0)} with context takeover`,
);
