import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EmulationSender } from "./emulation-sender.js";
import type { CloseInfo } from "./errors.js";
import { withTimeout } from "../test/scripted-server.js";

/** A real HTTP server that holds each POST until the test answers it, and notes overlaps. */
class HeldServer {
  readonly bodies: unknown[] = [];
  maxInFlight = 0;
  private inFlight = 0;
  private readonly held: ServerResponse[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly server: Server = createServer((req, res) => void this.take(req, res));
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/emulation/send`;
  }

  /** Resolves once `count` POSTs arrived in all. */
  async received(count: number): Promise<void> {
    const arrived = async (): Promise<void> => {
      while (this.bodies.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
    };
    await withTimeout(arrived(), 2000, `${count} POSTs`);
  }

  /** Answers the oldest held POST with `status`. */
  answer(status: number): void {
    const res = this.held.shift();
    if (res === undefined) throw new Error("no POST is held");
    this.inFlight--;
    res.writeHead(status).end();
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async take(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let body = "";
    for await (const chunk of req) body += String(chunk);
    this.bodies.push({ type: req.headers["content-type"], ...(JSON.parse(body) as object) });
    this.held.push(res);
    for (const wake of this.waiters.splice(0)) wake();
  }
}

let server: HeldServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function sender(): Promise<{ sender: EmulationSender; failures: CloseInfo[]; server: HeldServer }> {
  server = new HeldServer();
  await server.start();
  const failures: CloseInfo[] = [];
  const abort = new AbortController();
  const s = new EmulationSender(server.url, abort.signal, (close) => failures.push(close));
  return { sender: s, failures, server };
}

describe("EmulationSender", () => {
  it("waits for the stream id, batches one turn's frames, and keeps one POST in flight, in order", async () => {
    const { sender: s, server: http, failures } = await sender();
    s.send('{"id":1,"subscribe":{"channel":"a"}}');
    s.send('{"id":2,"subscribe":{"channel":"b"}}');
    await new Promise((resolve) => setImmediate(resolve));
    expect(http.bodies).toEqual([]); // no id yet
    s.setStream("node.abc");
    await http.received(1);
    // Sent in two later turns while the first POST is held: they wait, then go together.
    s.send('{"id":3,"publish":{"channel":"a","data":1}}');
    await new Promise((resolve) => setImmediate(resolve));
    s.send(new TextEncoder().encode('{"pong":{}}'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(http.bodies).toHaveLength(1);
    http.answer(204);
    await http.received(2);
    http.answer(202);
    expect(http.bodies).toEqual([
      {
        type: "text/plain",
        stream: "node.abc",
        frames: [
          { id: 1, subscribe: { channel: "a" } },
          { id: 2, subscribe: { channel: "b" } },
        ],
      },
      { type: "text/plain", stream: "node.abc", frames: [{ id: 3, publish: { channel: "a", data: 1 } }, { pong: {} }] },
    ]);
    expect(http.maxInFlight).toBe(1);
    expect(failures).toEqual([]);
  });

  it("ends the connection when the node no longer has it (404), and sends nothing more", async () => {
    const { sender: s, server: http, failures } = await sender();
    s.setStream("node.abc");
    s.send('{"id":1,"presence":{"channel":"a"}}');
    await http.received(1);
    http.answer(404);
    await withTimeout(
      (async () => {
        while (failures.length === 0) await new Promise((resolve) => setImmediate(resolve));
      })(),
      2000,
      "the failure",
    );
    expect(failures).toEqual([{ code: 1006, reason: `POST ${http.url} answered 404` }]);
    s.send('{"id":2,"presence":{"channel":"a"}}');
    await new Promise((resolve) => setImmediate(resolve));
    expect(http.bodies).toHaveLength(1);
  });
});
