import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Socket } from "node:net";

/**
 * What the WebSocket endpoints read of an opening handshake: Node's `IncomingMessage` (an
 * upgrade on a connection Node's HTTP server parsed) or the node's own parse of a connection's
 * first request ({@link parseUpgradeRequest}).
 */
export type UpgradeRequest = Pick<IncomingMessage, "method" | "url" | "headers" | "socket">;

/** The end of a request's header block. */
export const HEAD_END = Buffer.from("\r\n\r\n");
/** The start of every request this parser can take; anything else is Node's to parse. */
export const GET_PREFIX = Buffer.from("GET ");

/** `GET <request-target> HTTP/1.1`; a WebSocket handshake needs HTTP/1.1 (RFC 6455 §4.1). */
const REQUEST_LINE = /^GET ([!-~]+) HTTP\/1\.1$/;
/** `name: value`, a token name (RFC 9110 §5.1) and a value of visible characters, spaces, tabs and obs-text. */
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;

/**
 * Parses `head`, a request's header block (request line and header lines, without the final
 * empty line), when it is a plain WebSocket opening handshake: a `GET` on HTTP/1.1 with
 * `Upgrade: websocket`, well-formed lines and no body (`Content-Length`, `Transfer-Encoding`).
 * Returns undefined for anything else, which the caller hands to Node's HTTP parser: this
 * parser only ever accepts a strict subset of what Node accepts, so odd requests get Node's
 * answers (400, 431) rather than ours. Header names are lower-cased and repeated headers
 * joined with ", ", as Node does for the headers a handshake reads.
 */
export function parseUpgradeRequest(head: string, socket: Socket): UpgradeRequest | undefined {
  const lines = head.split("\r\n");
  const requestLine = REQUEST_LINE.exec(lines[0] ?? "");
  if (requestLine === null) return undefined;
  // A null-prototype object: a header named __proto__ or constructor is just a header.
  const headers: IncomingHttpHeaders = Object.create(null);
  const fields = headers as Record<string, string>;
  for (let i = 1; i < lines.length; i++) {
    const header = HEADER_LINE.exec(lines[i] as string);
    if (header === null) return undefined;
    const name = (header[1] as string).toLowerCase();
    const value = header[2] as string;
    const earlier = fields[name];
    fields[name] = earlier === undefined ? value : `${earlier}, ${value}`;
  }
  if (fields["content-length"] !== undefined || fields["transfer-encoding"] !== undefined) return undefined;
  if (fields.upgrade?.toLowerCase() !== "websocket") return undefined;
  return { method: "GET", url: requestLine[1] as string, headers, socket };
}
