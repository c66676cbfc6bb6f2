import { expect } from "vitest";
import { eventually } from "./eventually.js";

// A client of the two-way emulation spoken by hand with fetch, as a browser's fetch reads a
// stream: the NDJSON frames as they arrive, and POSTs of frames to any node.

/** A protocol frame, parsed. */
export type Frame = Record<string, unknown>;

/** One emulated connection: the NDJSON stream's frames as they arrive, and POSTs of frames. */
export class EmulatedClient {
  readonly frames: Frame[] = [];
  stream = "";
  ended = false;
  private readonly abort = new AbortController();
  private nextId = 2;

  private constructor(readonly baseUrl: string) {}

  static async open(baseUrl: string, connect: Frame = { id: 1, connect: {} }): Promise<EmulatedClient> {
    const client = new EmulatedClient(baseUrl);
    const res = await fetch(`${baseUrl}/emulation`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(connect),
      signal: client.abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    void client.read(res);
    await eventually(() => client.stream !== "", 5_000, "the stream's first line");
    return client;
  }

  private async read(res: Response): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          const frame = JSON.parse(line) as Frame;
          const hello = frame["emulation"] as { stream: string } | undefined;
          if (hello !== undefined) this.stream = hello.stream;
          else this.frames.push(frame);
        }
      }
    } catch {
      // aborted by close()
    }
    this.ended = true;
  }

  /** POSTs frames for this connection to `node` (this stream's node unless told); resolves with the status. */
  async send(frames: Frame[], via = this.baseUrl): Promise<number> {
    const res = await fetch(`${via}/emulation/send`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ stream: this.stream, frames }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Sends a command and waits for its reply on the stream. */
  async command(method: string, request: unknown, via?: string): Promise<Frame> {
    const id = this.nextId++;
    const status = await this.send([{ id, [method]: request }], via);
    expect([202, 204]).toContain(status);
    return this.waitFor((f) => f["id"] === id, `the reply to ${method}`);
  }

  async waitFor(match: (frame: Frame) => boolean, what: string, timeoutMs = 5_000): Promise<Frame> {
    await eventually(() => this.frames.some(match), timeoutMs, what, 10);
    return this.frames.find(match) as Frame;
  }

  close(): void {
    this.abort.abort();
  }
}
