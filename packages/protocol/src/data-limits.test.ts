import { describe, expect, it } from "vitest";
import { DataFault, MAX_DATA_DEPTH, jsonTextWithinDepth, jsonValueWithinDepth, parseJsonData } from "./data-limits.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const nestedArrays = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

/** A value nested `depth` deep built without recursion, alternating arrays and objects. */
function nestedValue(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

describe("data depth", () => {
  it.each([
    ["a scalar", "1", 0],
    ["a string holding brackets", '"[[{{"', 0],
    ["an empty array", "[]", 1],
    ["an empty object", "{}", 1],
    ["an object holding an array", '{"a":[1]}', 2],
    ["siblings, not nesting", "[[1],[2],{}]", 2],
    ["brackets after an escaped quote", '["\\"[[[", ["\\\\"]]', 2],
  ])("counts %s as depth %i, in text and in the parsed value alike", (_what, text, depth) => {
    const value: unknown = JSON.parse(text);
    expect(jsonTextWithinDepth(utf8(text), depth)).toBe(true);
    expect(jsonValueWithinDepth(value, depth)).toBe(true);
    if (depth > 0) {
      expect(jsonTextWithinDepth(utf8(text), depth - 1)).toBe(false);
      expect(jsonValueWithinDepth(value, depth - 1)).toBe(false);
    }
  });

  it("checks data nested far past the call stack without overflowing it", () => {
    const deep = 1_000_000;
    expect(jsonTextWithinDepth(utf8(nestedArrays(deep)), MAX_DATA_DEPTH)).toBe(false);
    expect(jsonValueWithinDepth(JSON.parse(nestedArrays(200_000)), MAX_DATA_DEPTH)).toBe(false);
    expect(jsonValueWithinDepth(nestedValue(deep), MAX_DATA_DEPTH)).toBe(false);
  });

  it("lets JSON.stringify encode anything at MAX_DATA_DEPTH", () => {
    const value = nestedValue(MAX_DATA_DEPTH);
    expect(jsonValueWithinDepth(value, MAX_DATA_DEPTH)).toBe(true);
    expect(JSON.stringify(value).length).toBeGreaterThan(MAX_DATA_DEPTH);
  });
});

describe("parseJsonData", () => {
  it("parses UTF-8 JSON text within the limit", () => {
    expect(parseJsonData(utf8('{"a":["é"]}'), 2)).toEqual({ ok: true, value: { a: ["é"] } });
  });

  it.each([
    ["too deep", utf8(nestedArrays(3)), DataFault.tooDeep],
    ["not UTF-8", new Uint8Array([0x22, 0xff, 0x22]), DataFault.notUtf8],
    ["a byte-order mark", utf8("\uFEFF1"), DataFault.notJson],
    ["not JSON", utf8("1 2"), DataFault.notJson],
    ["empty", new Uint8Array(0), DataFault.notJson],
  ])("refuses data that is %s, naming the fault", (_what, data, fault) => {
    expect(parseJsonData(data, 2)).toMatchObject({ ok: false, fault });
  });
});
