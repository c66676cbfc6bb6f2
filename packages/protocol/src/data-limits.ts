/**
 * Limits on publication data that every entry point checks the same way (clients over JSON and
 * Protobuf, the server API, the emitter), so history never holds what a reader cannot encode.
 * Nothing here recurses: the checks must not exhaust the stack on the very input they refuse.
 *
 * Depth counts nested arrays and objects: `1` and `"x"` have depth 0, `[1]` and `{}` depth 1,
 * `{"a":[1]}` depth 2.
 */

/**
 * The highest `maxDataDepth` a node accepts: far below the nesting at which `JSON.stringify`
 * exhausts the stack, so any data that passed the check can be encoded again.
 */
export const MAX_DATA_DEPTH = 512;

/** The depth limit when none is configured (the node's and the emitter's `maxDataDepth`). */
export const DEFAULT_MAX_DATA_DEPTH = 64;

/** The limits a decoder applies to publication data. */
export interface DataLimits {
  /** Deepest nesting of arrays/objects accepted in publication data, 1 to {@link MAX_DATA_DEPTH}. */
  readonly maxDataDepth: number;
}

/** Why data was refused, phrased to follow a field name: `field "data" ${problem}`. */
export const tooDeepProblem = (maxDataDepth: number): string =>
  `nests arrays/objects deeper than ${maxDataDepth} levels (maxDataDepth)`;

/**
 * True when a parsed JSON value nests arrays/objects at most `maxDepth` deep. Walks with an
 * explicit stack and stops at the first container past the limit, so its work is bounded by
 * the value's size and never by the call stack.
 */
export function jsonValueWithinDepth(value: unknown, maxDepth: number): boolean {
  if (typeof value !== "object" || value === null) return true; // most data: no walk at all
  // Two parallel stacks of containers and their depths: no object per visited container.
  const containers: object[] = [value];
  const depths: number[] = [1];
  for (let container = containers.pop(); container !== undefined; container = containers.pop()) {
    const depth = depths.pop() as number;
    if (depth > maxDepth) return false;
    const children: readonly unknown[] = Array.isArray(container) ? container : Object.values(container);
    for (const child of children) {
      if (typeof child !== "object" || child === null) continue;
      containers.push(child);
      depths.push(depth + 1);
    }
  }
  return true;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * True when JSON text (UTF-8 bytes) nests arrays/objects at most `maxDepth` deep. Brackets
 * inside strings (escapes honoured) do not count. One pass over the bytes, no allocation; it
 * does not check the text is valid JSON, so parse it afterwards (see {@link parseJsonData}).
 */
export function jsonTextWithinDepth(text: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i];
    if (inString) {
      if (byte === BACKSLASH)
        i++; // the escaped byte cannot end the string
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) return false;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
    }
  }
  return true;
}

// Keeps a leading U+FEFF as text, so JSON.parse refuses it: JSON subscribers get the same bytes.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Why bytes are not acceptable publication data. */
export const DataFault = { tooDeep: "too_deep", notUtf8: "not_utf8", notJson: "not_json" } as const;
export type DataFault = (typeof DataFault)[keyof typeof DataFault];

/**
 * The outcome of {@link parseJsonData}: the value, or the fault with a `problem` phrased to
 * follow a field name (`field "data" ${problem}`).
 */
export type ParsedData = { ok: true; value: unknown } | { ok: false; fault: DataFault; problem: string };

/**
 * Checks publication data that arrives (or is stored) as bytes and parses it: depth first (by
 * {@link jsonTextWithinDepth}, before anything is built), then strict UTF-8 (no BOM), then
 * JSON. Never throws. Data that passes is safe to hand to `JSON.stringify`.
 */
export function parseJsonData(data: Uint8Array, maxDepth: number): ParsedData {
  if (!jsonTextWithinDepth(data, maxDepth))
    return { ok: false, fault: DataFault.tooDeep, problem: tooDeepProblem(maxDepth) };
  let text: string;
  try {
    text = strictUtf8.decode(data);
  } catch {
    return { ok: false, fault: DataFault.notUtf8, problem: "is not valid UTF-8" };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, fault: DataFault.notJson, problem: "is not JSON text" };
  }
}
