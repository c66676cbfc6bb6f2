import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Recorder, clientFrame } from "../../../../test/support/client-frames.js";
import { FrameReader } from "./frame-reader.js";
import { Opcode } from "./frame.js";

/**
 * Property-based tests of the frame reader. In `npm test` they run a few hundred cases from a
 * fixed seed; `npm run fuzz:frames` runs the same properties with many more cases from a
 * random seed it prints (docs/security.md, "Fuzzing"). HUBCAST_FUZZ_RUNS and
 * HUBCAST_FUZZ_SEED set either one; a failure also prints fast-check's seed and path.
 */
const RUNS = Number(process.env["HUBCAST_FUZZ_RUNS"] ?? 300);
const LONG = RUNS > 1_000;
const SEED = Number(process.env["HUBCAST_FUZZ_SEED"] ?? (LONG ? Math.floor(Math.random() * 2 ** 31) : 6455));
const TIMEOUT_MS = LONG ? 24 * 3_600_000 : 20_000;
const params = { seed: SEED, numRuns: RUNS };
if (LONG)
  console.log(
    `frame-reader fuzz: ${RUNS} runs per property, seed ${SEED} (replay: HUBCAST_FUZZ_SEED=${SEED} npm run fuzz:frames)`,
  );

const MAX_MESSAGE_BYTES = 2_048;
/** The most a reader may hold: a partial frame of the largest message and its header, plus assembled fragments. */
const MAX_HELD_BYTES = 2 * MAX_MESSAGE_BYTES + 14;

/** Cuts `bytes` at the given points (any numbers; taken modulo the length). */
function split(bytes: Buffer, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  return [0, ...cuts]
    .map((from, i) => bytes.subarray(from, cuts[i] ?? bytes.length))
    .filter((chunk) => chunk.length > 0);
}

/** Feeds `chunks` (copies, as a socket hands over fresh reads) and returns what the reader reported. */
function feed(chunks: readonly Buffer[], afterEach?: (reader: FrameReader) => void): unknown[] {
  const recorder = new Recorder();
  const reader = new FrameReader(recorder, { maxMessageBytes: MAX_MESSAGE_BYTES }, false);
  for (const chunk of chunks) {
    reader.push(Buffer.from(chunk));
    afterEach?.(reader);
  }
  return recorder.events;
}

/** Frames of every kind, valid or not: any opcode, flags and payload, masked or not, lengths that lie. */
const frameishArb = fc
  .record({
    opcode: fc.integer({ min: 0, max: 15 }),
    fin: fc.boolean(),
    rsv: fc.constantFrom(0, 0, 0, 1, 2, 4),
    payload: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 1_000, maxLength: 3_000 })),
    masked: fc.constantFrom(true, true, true, false),
    length: fc.option(fc.oneof(fc.nat(300), fc.constantFrom(125, 126, 127, 65_535, 65_536, 2 ** 32)), { freq: 5 }),
  })
  .map(({ opcode, fin, rsv, payload, masked, length }) =>
    clientFrame(opcode, Buffer.from(payload), {
      fin,
      rsv,
      masked,
      ...(length === null ? {} : { length }),
      mask: Buffer.from([9, 8, 7, 6]),
    }),
  );
const streamArb = fc.oneof(
  fc.uint8Array({ maxLength: 4_096 }).map((bytes) => Buffer.from(bytes)),
  fc.array(frameishArb, { maxLength: 12 }).map((frames) => Buffer.concat(frames)),
);

/** A message and how it is sent: its fragments, and pings between them. */
const messageArb = fc.record({
  binary: fc.boolean(),
  text: fc.string({ unit: "grapheme", maxLength: 60 }),
  bytes: fc.uint8Array({ maxLength: 300 }),
  cuts: fc.array(fc.nat(400), { maxLength: 5 }),
  pings: fc.array(fc.string({ unit: "grapheme-ascii", maxLength: 20 }), { maxLength: 5 }),
  mask: fc.uint8Array({ minLength: 4, maxLength: 4 }),
});
type MessagePlan = typeof messageArb extends fc.Arbitrary<infer T> ? T : never;

/** The frames of `plan` and the events a reader must report for them. */
function framesOf(plan: MessagePlan): { frames: Buffer[]; events: unknown[] } {
  const data = plan.binary ? Buffer.from(plan.bytes) : Buffer.from(plan.text);
  const mask = Buffer.from(plan.mask);
  const fragments = split(data, plan.cuts);
  if (fragments.length === 0) fragments.push(Buffer.alloc(0));
  const frames: Buffer[] = [];
  const events: unknown[] = [];
  fragments.forEach((fragment, i) => {
    const opcode = i > 0 ? Opcode.continuation : plan.binary ? Opcode.binary : Opcode.text;
    frames.push(clientFrame(opcode, fragment, { fin: i === fragments.length - 1, mask }));
    const ping = plan.pings[i];
    if (ping !== undefined && i < fragments.length - 1) {
      frames.push(clientFrame(Opcode.ping, ping, { mask }));
      events.push({ ping });
    }
  });
  events.push({ message: plan.binary ? data : data.toString(), binary: plan.binary });
  return { frames, events };
}

/**
 * Feeds `chunks` as a WebSocket connection does: a new reader for a read when there is none,
 * dropped again once idle. Returns what the readers reported.
 */
function feedDroppingIdle(chunks: readonly Buffer[]): unknown[] {
  const recorder = new Recorder();
  let reader: FrameReader | undefined;
  for (const chunk of chunks) {
    reader ??= new FrameReader(recorder, { maxMessageBytes: MAX_MESSAGE_BYTES }, false);
    reader.push(Buffer.from(chunk));
    if (reader.idle) {
      expect(reader.heldBytes).toBe(0);
      reader = undefined;
    }
  }
  return recorder.events;
}

describe("FrameReader properties", () => {
  it(
    "reports the same whether one reader reads everything or a new one is made whenever the last was idle",
    () => {
      fc.assert(
        fc.property(
          fc.oneof(
            streamArb,
            fc
              .array(messageArb, { minLength: 1, maxLength: 6 })
              .map((plans) => Buffer.concat(plans.flatMap((plan) => framesOf(plan).frames))),
          ),
          fc.array(fc.nat(20_000), { maxLength: 40 }),
          (bytes, points) => {
            const chunks = split(bytes, points);
            expect(feedDroppingIdle(chunks)).toEqual(feed(chunks));
          },
        ),
        params,
      );
    },
    TIMEOUT_MS,
  );

  it(
    "never throws on arbitrary bytes split anywhere, never holds more than its bound, and stops after a failure",
    () => {
      fc.assert(
        fc.property(streamArb, fc.array(fc.nat(20_000), { maxLength: 40 }), (bytes, points) => {
          const events = feed(split(bytes, points), (reader) =>
            expect(reader.heldBytes).toBeLessThanOrEqual(MAX_HELD_BYTES),
          );
          const failure = events.findIndex((event) => (event as { error?: number }).error !== undefined);
          if (failure !== -1) expect(failure).toBe(events.length - 1);
        }),
        params,
      );
    },
    TIMEOUT_MS,
  );

  it(
    "delivers the same messages and pings whether valid frames arrive whole or split at any points",
    () => {
      fc.assert(
        fc.property(
          fc.array(messageArb, { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(10_000), { maxLength: 60 }),
          (plans, points) => {
            const planned = plans.map(framesOf);
            const stream = Buffer.concat(planned.flatMap((p) => p.frames));
            const expected = planned.flatMap((p) => p.events);
            expect(feed([stream])).toEqual(expected);
            expect(feed(split(stream, points))).toEqual(expected);
          },
        ),
        params,
      );
    },
    TIMEOUT_MS,
  );

  it(
    "fails fragmented text with an invalid byte with 1007 at the fragment that carries it",
    () => {
      const plan = fc.record({
        text: fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }),
        cuts: fc.array(fc.nat(400), { minLength: 1, maxLength: 6 }),
        at: fc.nat(400),
        bad: fc.constantFrom(0xc0, 0xc1, 0xf5, 0xff),
      });
      fc.assert(
        fc.property(plan, ({ text, cuts, at, bad }) => {
          const valid = Buffer.from(text);
          const where = at % (valid.length + 1);
          const data = Buffer.concat([valid.subarray(0, where), Buffer.from([bad]), valid.subarray(where)]);
          const fragments = split(data, cuts);
          const carrier = fragments.findIndex(
            (_, i) => fragments.slice(0, i + 1).reduce((n, f) => n + f.length, 0) > where,
          );
          const recorder = new Recorder();
          const reader = new FrameReader(recorder, { maxMessageBytes: MAX_MESSAGE_BYTES }, false);
          fragments.forEach((fragment, i) => {
            reader.push(
              clientFrame(i === 0 ? Opcode.text : Opcode.continuation, fragment, { fin: i === fragments.length - 1 }),
            );
            if (i < carrier) expect(recorder.events).toEqual([]);
            else expect(recorder.events).toMatchObject([{ error: 1007 }]);
          });
          expect(reader.heldBytes).toBe(0);
        }),
        params,
      );
    },
    TIMEOUT_MS,
  );
});
