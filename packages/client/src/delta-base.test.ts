import { createDelta } from "fossil-delta";
import { describe, expect, it } from "vitest";
import { DeltaBase, MAX_DELTA_TARGET_BYTES } from "./delta-base.js";

const utf8 = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const full = (value: unknown, rawData: Uint8Array | string = utf8(value)) => ({
  channel: "c",
  data: value as never,
  rawData,
});
/** An integer in the fossil delta format's base-64 digits. */
function fossilInt(value: number): string {
  const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~";
  let out = "";
  for (let v = value; v > 0; v = Math.floor(v / 64)) out = `${digits[v % 64]}${out}`;
  return out;
}
const delta = (rawData: Uint8Array) => ({ channel: "c", data: null, delta: true, rawData });

describe("DeltaBase", () => {
  it("passes full publications through without wire fields and applies deltas to the last one", () => {
    const base = new DeltaBase();
    const v1 = { score: [0, 0], team: "home" };
    const v2 = { score: [1, 0], team: "home" };
    // From the JSON encoding the base is the data's text, encoded only when a delta needs it.
    expect(base.resolve(full(v1, JSON.stringify(v1)))).toEqual({
      kind: "publication",
      publication: { channel: "c", data: v1 },
    });
    expect(base.resolve(delta(createDelta(utf8(v1), utf8(v2))))).toEqual({
      kind: "publication",
      publication: { channel: "c", data: v2 },
    });
    const v3 = { score: [1, 1], team: "home" };
    expect(base.resolve(delta(createDelta(utf8(v2), utf8(v3))))).toMatchObject({ publication: { data: v3 } });
  });

  it("says no-base for a delta before any full publication, and after reset", () => {
    const base = new DeltaBase();
    expect(base.resolve(delta(createDelta(utf8(1), utf8(2))))).toEqual({ kind: "no-base" });
    base.resolve(full(1));
    base.reset();
    expect(base.resolve(delta(createDelta(utf8(1), utf8(2))))).toEqual({ kind: "no-base" });
  });

  it("fails, never returning data, when a delta meets the wrong base or claims a huge size", () => {
    const v1 = { n: 1, text: "a".repeat(100) };
    const v2 = { n: 2, text: "b".repeat(100) };
    const v3 = { n: 3, text: `${"b".repeat(100)}c` };
    const base = new DeltaBase();
    base.resolve(full(v1));
    // The delta from 2 to 3 arrives, 2 having been lost: the checksum catches it.
    const skipped = base.resolve(delta(createDelta(utf8(v2), utf8(v3))));
    expect(skipped).toMatchObject({ kind: "failed", error: { message: /checksum|size/ } });
    expect(base.resolve(delta(createDelta(utf8(v1), utf8(v2))))).toEqual({ kind: "no-base" });

    base.resolve(full(v1));
    const huge = new TextEncoder().encode(`${fossilInt(MAX_DELTA_TARGET_BYTES + 1)}\n0;`);
    expect(base.resolve(delta(huge))).toMatchObject({ kind: "failed", error: { message: /more than/ } });
  });
});
