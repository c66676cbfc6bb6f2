/**
 * The JSON encoding's two publication details that JSON.parse alone does not give: a delta's
 * bytes carried in a JSON string, and the exact text of a full publication's `data` (the base
 * the next delta applies to, which re-serialising the parsed value would not reproduce).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Bytes per String.fromCharCode call: well under every engine's argument limit. */
const CHUNK = 8192;

/**
 * Bytes as a string of the characters U+0000–U+00FF, one per byte: how a delta (any bytes, not
 * necessarily UTF-8) travels in a JSON string. A delta of JSON text is mostly ASCII, so its
 * JSON spelling is barely longer than the delta.
 */
export function bytesToLatin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return out;
}

/** The inverse of {@link bytesToLatin1}; `undefined` when a character is above U+00FF (not such a string). */
export function latin1ToBytes(text: string): Uint8Array | undefined {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) return undefined;
    out[i] = code;
  }
  return out;
}

/** The index just past the string that starts at `i` (a quote), or -1. */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return -1;
}

/** The index just past the JSON value that starts at `i`, or -1. The text is known to be valid JSON. */
function skipValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === QUOTE) return skipString(text, i);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let j = i;
    while (j < text.length) {
      const c = text.charCodeAt(j);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) break;
      j++;
    }
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) {
      j = skipString(text, j) - 1;
      if (j < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return -1;
}

const PUBLICATION_HEAD = '{"publication":{';
const DATA_KEY = '"data"';

/**
 * The text of `data` in a publication push as the server writes it (compact, `data` last:
 * docs/protocol.md), found by stepping over the members before it, so the cost is the size of
 * the head, not of the data. `undefined` for a frame not laid out that way.
 */
export function publicationDataText(frame: string): string | undefined {
  if (!frame.startsWith(PUBLICATION_HEAD) || !frame.endsWith("}}")) return undefined;
  let i = PUBLICATION_HEAD.length;
  while (i > 0 && i < frame.length) {
    const keyEnd = skipString(frame, i);
    if (keyEnd < 0 || frame.charCodeAt(keyEnd) !== COLON) return undefined;
    if (keyEnd - i === DATA_KEY.length && frame.startsWith(DATA_KEY, i)) return frame.slice(keyEnd + 1, -2);
    i = skipValue(frame, keyEnd + 1);
    if (i < 0 || frame.charCodeAt(i) !== COMMA) return undefined;
    i++;
  }
  return undefined;
}
