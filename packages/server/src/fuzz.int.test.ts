import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { closeCatalogue, errorCatalogue } from "@hubcast/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "../../../test/support/nodes.js";
import type { RawClient } from "../../../test/support/raw-client.js";
import { withTimeout } from "../../../test/support/raw-client.js";
import type { HubcastNode } from "./node.js";

/** A frame a hostile or broken client might send. */
type Frame = { text: string } | { bytes: Uint8Array; binary: boolean };

const METHOD_NAMES = [
  "connect",
  "subscribe",
  "unsubscribe",
  "publish",
  "presence",
  "presence_stats",
  "history",
  "refresh",
];
const ids = fc.oneof(
  fc.integer({ min: -5, max: 20 }),
  fc.constant(2 ** 53),
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.constant(null),
);
const channels = fc.oneof(
  fc.constantFrom("chat:a", "plain:b", "nope:c", "", "a b", "x".repeat(300)),
  fc.string({ maxLength: 20 }),
  fc.integer(),
);
const bodies = fc.oneof(
  fc.record({ channel: channels }, { requiredKeys: [] }),
  fc.record({ channel: channels, data: fc.jsonValue({ maxDepth: 4 }) }, { requiredKeys: [] }),
  fc.record({
    channel: channels,
    since: fc.record({
      offset: fc.oneof(fc.integer(), fc.double(), fc.string()),
      epoch: fc.oneof(fc.string(), fc.integer()),
    }),
  }),
  fc.record({ channel: channels, limit: fc.oneof(fc.integer(), fc.double()), reverse: fc.anything() }),
  fc.jsonValue({ maxDepth: 3 }),
);
/** Command-shaped objects with wrong ids, unknown methods, wrong types and extra keys. */
const commands = fc
  .record({
    id: ids,
    method: fc.oneof(fc.constantFrom(...METHOD_NAMES), fc.string({ maxLength: 12 })),
    body: bodies,
    extra: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }))),
  })
  .map(({ id, method, body, extra }): Frame => ({ text: JSON.stringify({ ...(extra ?? {}), id, [method]: body }) }));
const frames: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 5, arbitrary: commands },
  { weight: 1, arbitrary: fc.string({ maxLength: 50 }).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => ({ text: JSON.stringify(v) })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => ({ text: `${"[".repeat(n)}${"]".repeat(n)}` })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 5_000 }).map((n) => ({ text: `${'{"a":'.repeat(n)}1${"}".repeat(n)}` })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        '{"id":1e400,"connect":{}}',
        '{"id":1,"connect":{"token":1e999}}',
        '{"id":-0,"ping":{}}',
        '{"pong":{}}',
        '{"pong":1}',
        "null",
        '""',
        "{}",
      )
      .map((text) => ({ text })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes, binary: false })) }, // often invalid UTF-8
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes, binary: true })) },
);

const cluster = new TestCluster();
let node: HubcastNode;
let wsUrl: string;
let control: [RawClient, RawClient];
beforeAll(async () => {
  ({ node, wsUrl } = await cluster.node());
  control = [await cluster.client(wsUrl), await cluster.client(wsUrl)];
  await control[0].ok("subscribe", { channel: "plain:control" });
});
afterAll(() => cluster.cleanup());

let roundTrips = 0;
/** The node still serves others: a publication from one control client reaches the other. */
async function stillServes(): Promise<void> {
  roundTrips += 1;
  await control[1].ok("publish", { channel: "plain:control", data: roundTrips });
  await control[0].waitForPushes("publication", roundTrips, "plain:control");
}

function send(client: RawClient, frame: Frame): void {
  if ("text" in frame) client.ws.send(frame.text);
  else client.ws.send(frame.bytes, { binary: frame.binary });
}

/** Every frame the server sent is a reply with an id and exactly one result or a catalogue error, or a push. */
function checkAnswers(client: RawClient): void {
  for (const frame of client.frames) {
    if (frame["id"] === undefined) continue;
    const keys = Object.keys(frame).filter((k) => k !== "id");
    expect(keys).toHaveLength(1);
    const error = frame["error"] as { code: number } | undefined;
    if (error !== undefined) expect(Object.keys(errorCatalogue)).toContain(String(error.code));
  }
}

const heapUsed = (): number => {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
};

describe("hostile input", () => {
  it("answers random and malformed frames with errors or documented closes, and keeps serving others", {
    timeout: 180_000,
  }, async () => {
    await stillServes();
    const baseline = heapUsed();
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(frames, { minLength: 1, maxLength: 15 }),
        async (connectFirst, sequence) => {
          const client = await cluster.client(wsUrl, connectFirst);
          for (const frame of sequence) {
            if (client.ws.readyState !== client.ws.OPEN) break;
            send(client, frame);
          }
          if (client.ws.readyState === client.ws.OPEN)
            client.send({ id: 424_242, unsubscribe: { channel: "plain:x" } });
          const outcome = await withTimeout(
            Promise.race([
              client.closed.then((c) => ({ closed: c.code })),
              client.waitFor((f) => f["id"] === 424_242, "the last reply", 10_000).then(() => ({ closed: undefined })),
            ]),
            10_000,
            "an answer or a close",
          );
          if (outcome.closed !== undefined) expect(Object.keys(closeCatalogue)).toContain(String(outcome.closed));
          checkAnswers(client);
          await client.close();
          await stillServes();
        },
      ),
      { numRuns: 150 },
    );
    // Every fuzzing connection is gone and the node holds no more memory than before.
    await control[0].waitFor(() => node.info().connections === 2, "fuzz connections to close", 10_000);
    expect(node.info().subscriptions).toBe(1);
    expect(heapUsed() - baseline).toBeLessThan(30 * 1024 * 1024);
  });

  it("handles duplicate ids, each command answered once", async () => {
    const c = await cluster.client(wsUrl);
    for (let i = 0; i < 3; i++) c.send({ id: 7, presence_stats: { channel: "chat:dup" } });
    await c.waitFor(() => c.frames.filter((f) => f["id"] === 7).length === 3, "three replies to id 7");
    expect(c.frames.filter((f) => f["id"] === 7)).toHaveLength(3);
    await stillServes();
  });
});
