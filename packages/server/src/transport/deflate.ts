import { constants, deflateRawSync } from "node:zlib";
import { buildFrame } from "./frame.js";
import type { Framer } from "./transport.js";

/** The extension's name in `Sec-WebSocket-Extensions`. */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** The LZ77 window every message is deflated with: the RFC default and zlib's largest. */
const WINDOW_BITS = 15;

/** A sync flush ends with an empty stored block, `00 00 ff ff`; RFC 7692 §7.2.1 has the sender drop it. */
const SYNC_FLUSH_TAIL_BYTES = 4;

/** What the node's compression options set. */
export interface DeflaterOptions {
  /** Payloads shorter than this many bytes are sent uncompressed (RSV1 clear). */
  thresholdBytes: number;
  /** zlib level, 1 (fastest) to 9 (smallest). */
  level: number;
}

/**
 * Compresses outgoing messages for connections that negotiated permessage-deflate without
 * server context takeover, so a message is deflated on its own and one compressed frame
 * serves every such connection. One per node, shared by its sessions; it holds no state
 * between messages.
 *
 * Deflate runs synchronously on the event loop (`deflateRawSync`): once per publication and
 * codec, not per subscriber, and about 13 µs for a 4 KiB JSON payload at level 3
 * (docs/compression.md), which is cheaper than a trip to zlib's thread pool and back.
 */
export class MessageDeflater {
  readonly thresholdBytes: number;
  readonly level: number;

  constructor(options: DeflaterOptions) {
    this.thresholdBytes = options.thresholdBytes;
    this.level = options.level;
  }

  /**
   * A complete frame with RSV1 set carrying `payload` deflated, or `undefined` when the payload
   * is to go uncompressed: shorter than thresholdBytes, or not made smaller by deflate.
   */
  frame(payload: Uint8Array, binary: boolean): Buffer | undefined {
    if (payload.length < this.thresholdBytes) return undefined;
    const deflated = this.deflate(payload);
    return deflated.length < payload.length ? buildFrame(deflated, binary, true) : undefined;
  }

  /** One message as permessage-deflate sends it (RFC 7692 §7.2.1): raw DEFLATE, sync flush, tail removed. */
  deflate(payload: Uint8Array): Buffer {
    const out = deflateRawSync(payload, {
      level: this.level,
      windowBits: WINDOW_BITS,
      finishFlush: constants.Z_SYNC_FLUSH,
    });
    return out.subarray(0, out.length - SYNC_FLUSH_TAIL_BYTES);
  }
}

/** The node's deflater: `undefined` when the `compression` option is off. */
export function deflateFramerFor(options: {
  compression: boolean;
  compressionThresholdBytes: number;
  compressionLevel: number;
}): DeflateFramer | undefined {
  if (!options.compression) return undefined;
  return new DeflateFramer(
    new MessageDeflater({ thresholdBytes: options.compressionThresholdBytes, level: options.compressionLevel }),
  );
}

/** RFC 7230 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const WINDOW_BITS_VALUE = /^(8|9|1[0-5])$/;

type Params = Map<string, string | true>;

/**
 * The `Sec-WebSocket-Extensions` answer to a client's offers, or `undefined` to connect
 * uncompressed. A client may offer several extensions, and permessage-deflate several times
 * with different parameters, in order of preference (RFC 7692 §5); the node accepts the first
 * permessage-deflate offer it can serve, declining the others: malformed elements, unknown or
 * invalid parameters, and offers asking for a server window smaller than {@link WINDOW_BITS}
 * (the client could not inflate the shared frames). It imposes no context takeover in both
 * directions (RFC 7692 §7.1.1), so each message stands alone: one deflated frame then serves
 * every connection, and inflating a client message needs no state kept between messages.
 * Nothing in the header fails the handshake.
 */
export function negotiateDeflate(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const element of header.split(",")) {
    const parsed = parseElement(element);
    if (parsed?.name !== PERMESSAGE_DEFLATE || !validDeflateParams(parsed.params)) continue;
    const serverWindow = parsed.params.get("server_max_window_bits");
    if (serverWindow !== undefined && Number(serverWindow) !== WINDOW_BITS) continue;
    // A server_max_window_bits offer is answered with the same value (RFC 7692 §7.1.2.1).
    const window = serverWindow === undefined ? "" : `; server_max_window_bits=${WINDOW_BITS}`;
    return `${PERMESSAGE_DEFLATE}; server_no_context_takeover; client_no_context_takeover${window}`;
  }
  return undefined;
}

/** `name; key; key=value; key="value"`, or `undefined` when it is anything less plain. */
function parseElement(element: string): { name: string; params: Params } | undefined {
  const [name = "", ...parts] = element.split(";").map((part) => part.trim());
  if (!TOKEN.test(name)) return undefined;
  const params: Params = new Map();
  for (const part of parts) {
    const eq = part.indexOf("=");
    const key = (eq === -1 ? part : part.slice(0, eq)).trim();
    const value =
      eq === -1
        ? true
        : part
            .slice(eq + 1)
            .trim()
            .replace(/^"([^"]*)"$/, "$1");
    if (!TOKEN.test(key) || params.has(key) || (value !== true && !TOKEN.test(value))) return undefined;
    params.set(key, value);
  }
  return { name, params };
}

function validDeflateParams(params: Params): boolean {
  for (const [key, value] of params) {
    if (key === "server_no_context_takeover" || key === "client_no_context_takeover") {
      if (value !== true) return false;
    } else if (key === "client_max_window_bits") {
      if (value !== true && !WINDOW_BITS_VALUE.test(value)) return false;
    } else if (key === "server_max_window_bits") {
      if (value === true || !WINDOW_BITS_VALUE.test(value)) return false;
    } else {
      return false;
    }
  }
  return true;
}

/**
 * WebSocket data frames for connections that negotiated permessage-deflate: compressed by the
 * node's deflater, or plain when the payload is below its threshold or does not shrink.
 */
export class DeflateFramer implements Framer {
  constructor(readonly deflater: MessageDeflater) {}

  frame(payload: Uint8Array, binary: boolean): Buffer {
    return this.deflater.frame(payload, binary) ?? buildFrame(payload, binary);
  }
}
