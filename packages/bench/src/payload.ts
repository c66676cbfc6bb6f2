/**
 * The data every bench publication carries: a JSON string `"lane|seq|sentAtUs|xxx…"` padded
 * with `x` to exactly the requested encoded size, quotes included. Digits, `|` and `x` need no
 * escaping, so every JSON encoder passes the string through byte for byte, and a subscriber
 * reads the numbers straight from the frame bytes without decoding the frame.
 */

/** Smallest payload: the quotes, separators and the widest lane, sequence and timestamp. */
export const MIN_PAYLOAD_BYTES = 48;

/** Largest payload the bench will build. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

let padding = "x".repeat(1024);

/** Microseconds since the Unix epoch, with sub-millisecond precision; comparable across processes of one machine. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * The JSON string literal (with its quotes) for publication `seq` (≥ 1) of `lane`, sent at
 * `sentAtUs`, exactly `bytes` long (at least {@link MIN_PAYLOAD_BYTES}).
 */
export function encodePayload(lane: number, seq: number, sentAtUs: number, bytes: number): string {
  const head = `"${lane}|${seq}|${sentAtUs}|`;
  const pad = bytes - head.length - 1;
  if (pad > padding.length) padding = "x".repeat(Math.max(pad, padding.length * 2));
  return `${head}${pad > 0 ? padding.slice(0, pad) : ""}"`;
}

/** The numbers a publication carries. */
export interface PayloadFields {
  lane: number;
  seq: number;
  sentAtUs: number;
}

const QUOTE = 0x22;
const BAR = 0x7c;
const ZERO = 0x30;

/**
 * Reads the fields of a payload whose opening quote is at `buf[start]` into `out`. Returns
 * false when the bytes there are not a bench payload.
 */
export function decodePayload(buf: Buffer, start: number, out: PayloadFields): boolean {
  if (buf[start] !== QUOTE) return false;
  let i = start + 1;
  const end = buf.length;
  let field = 0;
  let value = 0;
  let digits = 0;
  for (; i < end && field < 3; i++) {
    const c = buf[i] as number;
    if (c === BAR) {
      if (digits === 0) return false;
      if (field === 0) out.lane = value;
      else if (field === 1) out.seq = value;
      else out.sentAtUs = value;
      field += 1;
      value = 0;
      digits = 0;
    } else if (c >= ZERO && c <= ZERO + 9) {
      value = value * 10 + (c - ZERO);
      digits += 1;
    } else {
      return false;
    }
  }
  return field === 3;
}
