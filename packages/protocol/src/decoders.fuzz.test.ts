import { create, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { errorCatalogue } from "./codes.js";
import type { Codec } from "./codec.js";
import type { DataLimits } from "./data-limits.js";
import { MAX_DATA_DEPTH, jsonTextWithinDepth, jsonValueWithinDepth, parseJsonData } from "./data-limits.js";
import { METHODS } from "./frames.js";
import { ClientFrameSchema } from "./gen/hubcast/v1/hubcast_pb.js";
import type { CommandSchema } from "./gen/hubcast/v1/hubcast_pb.js";
import { JsonCodec, encodeJsonData } from "./json-codec.js";
import { ProtobufCodec } from "./protobuf-codec.js";
import type { ClientFrame } from "./validate.js";

/**
 * Properties of both command decoders over hostile input. In `npm test` they run a bounded
 * number of times from a fixed seed; `npm run fuzz:decoders` runs them long from a random seed
 * it prints (HUBCAST_FUZZ_RUNS sets the runs, HUBCAST_FUZZ_SEED replays a seed).
 */
const longRun = process.env["HUBCAST_FUZZ_RUNS"] !== undefined;
const numRuns = longRun ? Number(process.env["HUBCAST_FUZZ_RUNS"]) : 500;
const seed =
  process.env["HUBCAST_FUZZ_SEED"] !== undefined
    ? Number(process.env["HUBCAST_FUZZ_SEED"])
    : longRun
      ? Date.now() ^ (Math.random() * 2 ** 31)
      : 20_261_206;
if (!Number.isSafeInteger(numRuns) || numRuns < 1)
  throw new TypeError(`HUBCAST_FUZZ_RUNS must be a positive integer, got ${process.env["HUBCAST_FUZZ_RUNS"]}`);
if (longRun)
  console.log(`decoder fuzzing: ${numRuns} runs per property, seed ${seed} (replay with HUBCAST_FUZZ_SEED=${seed})`);
const timeoutMs = longRun ? 24 * 3_600_000 : 20_000;
const params = { seed, numRuns };

const json = new JsonCodec();
const protobuf = new ProtobufCodec();
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

const limits: fc.Arbitrary<DataLimits | undefined> = fc.option(
  fc.integer({ min: 1, max: MAX_DATA_DEPTH }).map((maxDataDepth) => ({ maxDataDepth })),
  { nil: undefined },
);
const depths = fc.oneof(
  fc.integer({ min: 0, max: 80 }),
  fc.integer({ min: MAX_DATA_DEPTH - 2, max: MAX_DATA_DEPTH + 2 }),
  fc.integer({ min: 1, max: 20_000 }),
);
/** JSON-like text: valid values, deep nesting (balanced or not), and bracket soup with strings and escapes. */
const dataText = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
  depths.map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
  depths.map((n) => `${'{"a":'.repeat(n)}"x"${"}".repeat(n)}`),
  depths.map((n) => `${'["\\"[",'.repeat(n)}1${"]".repeat(n)}`),
  depths.map((n) => "[".repeat(n)),
  fc
    .array(fc.constantFrom("[", "]", "{", "}", '"', "\\", ",", ":", "1", '"a"', '"\\""', " ", "null", "\uFEFF", "é"), {
      maxLength: 300,
    })
    .map((parts) => parts.join("")),
  fc.string({ maxLength: 40 }),
);
const dataBytes = fc.oneof(
  { weight: 4, arbitrary: dataText.map(utf8) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
);

const channels = fc.oneof(fc.constantFrom("chat:a", "", "x".repeat(300)), fc.string({ maxLength: 12 }));
const positions = fc.record({
  offset: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  epoch: fc.string({ maxLength: 80 }),
});
type CommandInit = MessageInitShape<typeof CommandSchema>;
const pbMethods: fc.Arbitrary<CommandInit["method"]> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ channel: channels, data: dataBytes }).map((value) => ({ case: "publish" as const, value })),
  },
  fc
    .record({ token: fc.option(fc.string(), { nil: undefined }), name: fc.option(fc.string(), { nil: undefined }) })
    .map((value) => ({ case: "connect" as const, value })),
  fc
    .record({ channel: channels, since: fc.option(positions, { nil: undefined }) })
    .map((value) => ({ case: "subscribe" as const, value })),
  fc
    .record({
      channel: channels,
      limit: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: undefined }),
      since: fc.option(positions, { nil: undefined }),
      reverse: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map((value) => ({ case: "history" as const, value })),
  channels.map((channel) => ({ case: "presence" as const, value: { channel } })),
  fc.string().map((token) => ({ case: "refresh" as const, value: { token } })),
  fc.constant({ case: undefined }),
);
const pbFrame = (command: CommandInit): Uint8Array =>
  toBinary(ClientFrameSchema, create(ClientFrameSchema, { frame: { case: "command", value: command } }));
const pbCommands = fc
  .record({ id: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 32 - 1 })), method: pbMethods })
  .map(pbFrame);
/** Well-formed frames with bytes overwritten or cut off. */
const pbMutated = fc
  .tuple(
    pbCommands,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.option(fc.nat()),
  )
  .map(([bytes, flips, cut]) => {
    const out = new Uint8Array(bytes);
    for (const [at, value] of flips) if (out.length > 0) out[at % out.length] = value;
    return cut === null || out.length === 0 ? out : out.subarray(0, cut % out.length);
  });
const pbInput = fc.oneof(
  { weight: 4, arbitrary: pbCommands },
  { weight: 2, arbitrary: pbMutated },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 128 }) },
);

const ids = fc.oneof(
  fc.integer({ min: -2, max: 1_000 }),
  fc.constantFrom("2e400", "1.5", '"7"', "null", "9007199254740993"),
);
const jsonCommands = fc
  .tuple(ids, fc.constantFrom(...METHODS, "nope"), channels, dataText)
  .map(
    ([id, method, channel, data]) =>
      `{"id":${id},"${method}":{"channel":${JSON.stringify(channel)},"data":${data},"since":{"offset":1,"epoch":"e"}}}`,
  );
const jsonInput = fc.oneof(
  { weight: 4, arbitrary: jsonCommands },
  { weight: 1, arbitrary: dataText },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
);

/** What every decoded frame must satisfy, whatever the input. */
function checkFrame(codec: Codec, frame: ClientFrame, given: DataLimits | undefined): void {
  const maxDataDepth = given?.maxDataDepth ?? MAX_DATA_DEPTH;
  if (frame.kind === "pong") return;
  if (frame.kind === "invalid") {
    expect(errorCatalogue[frame.code as keyof typeof errorCatalogue]).toBeDefined();
    expect(typeof frame.message).toBe("string");
    if (frame.id !== undefined) expect(Number.isSafeInteger(frame.id) && frame.id > 0).toBe(true);
    return;
  }
  expect(frame.kind).toBe("command");
  expect(METHODS).toContain(frame.command.method);
  expect(Number.isSafeInteger(frame.command.id) && frame.command.id > 0).toBe(true);
  if (frame.command.method !== "publish") return;
  const { channel, data, rawData } = frame.command.request;
  expect(jsonValueWithinDepth(data, maxDataDepth)).toBe(true);
  // What the server does with accepted data: encode it, frame it for subscribers, reply with it.
  const encoded = encodeJsonData(data);
  codec.encodePublication({ channel, data: rawData ?? encoded });
  codec.encodeReply({
    id: 1,
    method: "history",
    result: { publications: [{ data }], position: { offset: 1, epoch: "e" } },
  });
  if (codec === protobuf) {
    expect(rawData).toBeDefined();
    expect(jsonTextWithinDepth(rawData ?? new Uint8Array(0), maxDataDepth)).toBe(true);
    expect(parseJsonData(rawData ?? new Uint8Array(0), maxDataDepth)).toEqual({ ok: true, value: data });
  }
}

describe.each([
  ["JsonCodec", json, jsonInput],
  ["ProtobufCodec", protobuf, pbInput],
] as const)("%s.decodeClientFrame under fuzzing", (_name, codec, input) => {
  it(
    "never throws, returns a frame of a known kind, and any publish it returns holds data within the limit that encodes again",
    () => {
      fc.assert(
        fc.property(input, limits, (data: string | Uint8Array, given) => {
          checkFrame(codec, codec.decodeClientFrame(data, given), given);
        }),
        params,
      );
    },
    timeoutMs,
  );
});

describe("the decoders agree on publish data", () => {
  it(
    "accept or refuse the same data text, both checking depth against the same limit",
    () => {
      fc.assert(
        fc.property(dataText, limits, (text, given) => {
          const viaJson = json.decodeClientFrame(`{"id":1,"publish":{"channel":"c","data":${text}}}`, given);
          const viaPb = protobuf.decodeClientFrame(
            pbFrame({ id: 1, method: { case: "publish", value: { channel: "c", data: utf8(text) } } }),
            given,
          );
          // JSON takes the text inside its frame, where trailing text or a BOM breaks the frame, not the data.
          if (viaPb.kind === "command") expect(viaJson.kind).toBe("command");
          if (
            viaJson.kind === "command" &&
            viaJson.command.method === "publish" &&
            viaPb.kind === "command" &&
            viaPb.command.method === "publish"
          ) {
            expect(viaPb.command.request.data).toEqual(viaJson.command.request.data);
          }
          const tooDeep = (f: ClientFrame): boolean => f.kind === "invalid" && f.message.includes("(maxDataDepth)");
          if (tooDeep(viaJson)) expect(tooDeep(viaPb)).toBe(true);
        }),
        params,
      );
    },
    timeoutMs,
  );
});
