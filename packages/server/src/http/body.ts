import type { IncomingMessage } from "node:http";

/** The errors {@link readBody} rejects with, in the caller's terms (an API error, a transport refusal). */
export interface BodyErrors {
  /** The body is larger than allowed: by its `Content-Length` at once, or once that many bytes came. */
  tooLarge: () => Error;
  /** The body ended early: the client went away or the request failed. */
  cutOff: () => Error;
}

/**
 * Reads a request body of at most `maxBytes`, never holding more. Past the limit the rest is
 * discarded unread so the refusal can still be answered; the caller closes the connection
 * after it (`Connection: close`), since the client may still be sending.
 */
export function readBody(req: IncomingMessage, maxBytes: number, errors: BodyErrors): Promise<Buffer> {
  if (Number(req.headers["content-length"]) > maxBytes) return Promise.reject(errors.tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off("data", onData);
      req.resume(); // discard the rest
      reject(errors.tooLarge());
    };
    req.on("data", onData);
    req.once("error", () => reject(errors.cutOff()));
    req.once("close", () => reject(errors.cutOff())); // no effect after `end`
    req.once("end", () => resolve(Buffer.concat(chunks)));
  });
}
