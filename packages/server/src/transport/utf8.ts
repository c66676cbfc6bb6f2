import { isUtf8 } from "node:buffer";

/** The state before any byte, and after bytes that end on a character boundary. */
export const UTF8_BOUNDARY = 0;
/** The state after a byte that no continuation can make valid; it never changes again. */
export const UTF8_INVALID = -1;

/**
 * Validates UTF-8 (RFC 3629) across chunk boundaries, as fragments of a text message arrive
 * (RFC 6455 §8.1: a text message may be failed as soon as its bytes so far cannot be valid).
 * Returns the state after `bytes`, given the state after the bytes before them: a small state
 * machine packed in one number (continuation bytes still due, and the range the next byte
 * must fall in), so a reader carries no object per message. The message is valid only if
 * its last chunk ends in {@link UTF8_BOUNDARY}; {@link UTF8_INVALID} is final.
 */
export function utf8Continue(state: number, bytes: Uint8Array): number {
  if (state === UTF8_INVALID) return UTF8_INVALID;
  // Most chunks start on a boundary and are whole: the native check is much faster than a byte loop.
  if (state === UTF8_BOUNDARY && isUtf8(bytes)) return UTF8_BOUNDARY;
  let need = state >>> 16;
  let lo = (state >>> 8) & 0xff;
  let hi = state & 0xff;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (need > 0) {
      if (b < lo || b > hi) return UTF8_INVALID;
      need -= 1;
      lo = 0x80;
      hi = 0xbf;
      continue;
    }
    if (b < 0x80) continue;
    // The first continuation byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    if (b >= 0xc2 && b <= 0xdf) [need, lo, hi] = [1, 0x80, 0xbf];
    else if (b === 0xe0) [need, lo, hi] = [2, 0xa0, 0xbf];
    else if (b === 0xed) [need, lo, hi] = [2, 0x80, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) [need, lo, hi] = [2, 0x80, 0xbf];
    else if (b === 0xf0) [need, lo, hi] = [3, 0x90, 0xbf];
    else if (b >= 0xf1 && b <= 0xf3) [need, lo, hi] = [3, 0x80, 0xbf];
    else if (b === 0xf4) [need, lo, hi] = [3, 0x80, 0x8f];
    else return UTF8_INVALID;
  }
  return need === 0 ? UTF8_BOUNDARY : (need << 16) | (lo << 8) | hi;
}
