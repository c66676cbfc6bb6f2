import { createHash, randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { TestCluster } from "../../../../test/support/nodes.js";

const cluster = new TestCluster();
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await cluster.cleanup();
});

/** A TCP connection that speaks the WebSocket wire format by hand, so every byte is the test's own. */
class WireClient {
  private received = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    socket.on("close", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async open(wsUrl: string): Promise<WireClient> {
    const { hostname, port } = new URL(wsUrl);
    const socket = connect(Number(port), hostname);
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new WireClient(socket);
  }

  /** Waits until the bytes received satisfy `ready`, or the socket closes. */
  async until<T>(ready: (bytes: Buffer) => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const result = ready(this.received);
      if (result !== undefined) return result;
      if (this.ended) throw new Error(`socket closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** The HTTP response head, once whole; the bytes after it stay for {@link frame}. */
  async response(): Promise<string> {
    const head = await this.until((bytes) => {
      const end = bytes.indexOf("\r\n\r\n");
      return end === -1 ? undefined : end;
    }, "the handshake response");
    const text = this.received.subarray(0, head).toString();
    const contentLength = /content-length: (\d+)/i.exec(text);
    const bodyLength = contentLength === null ? 0 : Number(contentLength[1]);
    this.received = this.received.subarray(head + 4 + bodyLength);
    return text;
  }

  /** The next server frame (unmasked; payloads under 64 KiB are all these tests need). */
  async frame(): Promise<{ opcode: number; payload: Buffer }> {
    const frame = await this.until((bytes) => {
      if (bytes.length < 4) return undefined;
      let length = (bytes[1] as number) & 0x7f;
      let header = 2;
      if (length === 127) throw new Error("frame too long for this reader");
      if (length === 126) {
        length = bytes.readUInt16BE(2);
        header = 4;
      }
      if (bytes.length < header + length) return undefined;
      return {
        opcode: (bytes[0] as number) & 0x0f,
        payload: Buffer.from(bytes.subarray(header, header + length)),
        size: header + length,
      };
    }, "a frame");
    this.received = this.received.subarray(frame.size);
    return { opcode: frame.opcode, payload: frame.payload };
  }

  /** The next frame other than the JSON replies and pushes of the session. */
  async controlFrame(): Promise<{ opcode: number; payload: Buffer }> {
    for (;;) {
      const frame = await this.frame();
      if (frame.opcode >= 0x8) return frame;
    }
  }

  async closed(): Promise<void> {
    await this.until(() => (this.ended ? true : undefined), "the socket to close").catch((err: Error) => {
      if (!this.ended) throw err;
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function upgradeRequest(path: string, headers: Record<string, string> = {}, method = "GET"): string {
  const all: Record<string, string> = {
    Host: "localhost",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Version": "13",
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, value]) => value !== "")
    .map(([name, value]) => `${name}: ${value}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
}

function clientFrame(opcode: number, payload: Buffer | string): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const mask = randomBytes(4);
  const header =
    data.length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | data.length])
      : Buffer.from([0x80 | opcode, 0x80 | 126, data.length >> 8, data.length & 0xff]);
  return Buffer.concat([header, mask, Buffer.from(data.map((byte, i) => byte ^ (mask[i % 4] as number)))]);
}

function closePayload(code: number, reason = ""): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, Buffer.from(reason)]);
}

async function upgraded(
  wsUrl: string,
  headers: Record<string, string> = {},
): Promise<{ client: WireClient; response: string }> {
  const client = await WireClient.open(wsUrl);
  client.socket.write(upgradeRequest(new URL(wsUrl).pathname, headers));
  return { client, response: await client.response() };
}

describe("the WebSocket layer on real sockets", () => {
  it("answers the opening handshake with the RFC's accept key, and echoes only an offered subprotocol", async () => {
    const { wsUrl } = await cluster.node();
    const expectedAccept = createHash("sha1").update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    expect(expectedAccept).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); // the example in RFC 6455 §1.3
    const plain = await upgraded(wsUrl);
    expect(plain.response).toMatch(/^HTTP\/1\.1 101 /);
    expect(plain.response).toContain(`Sec-WebSocket-Accept: ${expectedAccept}`);
    expect(plain.response).not.toMatch(/Sec-WebSocket-Protocol/i);
    const offered = await upgraded(wsUrl, { "Sec-WebSocket-Protocol": "chat.v9, hubcast.v1.protobuf" });
    expect(offered.response).toContain("Sec-WebSocket-Protocol: hubcast.v1.protobuf");
    expect(offered.response).not.toMatch(/Sec-WebSocket-Extensions/i);
  });

  it.each([
    [
      "an unsupported version",
      { "Sec-WebSocket-Version": "8" },
      "GET",
      /^HTTP\/1\.1 400 [\s\S]*Sec-WebSocket-Version: 13/,
    ],
    ["a missing key", { "Sec-WebSocket-Key": "" }, "GET", /^HTTP\/1\.1 400 /],
    ["a key that is not 16 bytes of base64", { "Sec-WebSocket-Key": "short" }, "GET", /^HTTP\/1\.1 400 /],
    ["an Upgrade header for another protocol", { Upgrade: "h2c" }, "GET", /^HTTP\/1\.1 400 /],
    ["a POST", {}, "POST", /^HTTP\/1\.1 405 /],
  ])("refuses a handshake with %s, and closes the socket", async (_what, headers, method, expected) => {
    const { wsUrl } = await cluster.node();
    const client = await WireClient.open(wsUrl);
    client.socket.write(upgradeRequest("/ws", headers, method));
    expect(await client.response()).toMatch(expected);
    await client.closed();
  });

  it("reads a command sent in the same packet as the handshake", async () => {
    const { wsUrl } = await cluster.node();
    const client = await WireClient.open(wsUrl);
    client.socket.write(
      Buffer.concat([Buffer.from(upgradeRequest("/ws")), clientFrame(0x1, JSON.stringify({ id: 1, connect: {} }))]),
    );
    expect(await client.response()).toMatch(/^HTTP\/1\.1 101 /);
    const reply = await client.frame();
    expect(JSON.parse(reply.payload.toString())).toMatchObject({ id: 1, connect: { client: expect.any(String) } });
  });

  it("answers a ping with a pong carrying the same payload", async () => {
    const { wsUrl } = await cluster.node();
    const { client } = await upgraded(wsUrl);
    client.socket.write(clientFrame(0x9, "are you there?"));
    expect(await client.controlFrame()).toEqual({ opcode: 0xa, payload: Buffer.from("are you there?") });
  });

  it("echoes a client's close frame and closes the TCP connection", async () => {
    const { node, wsUrl } = await cluster.node();
    const { client } = await upgraded(wsUrl);
    client.socket.write(clientFrame(0x8, closePayload(4000, "done")));
    const echo = await client.controlFrame();
    expect(echo.opcode).toBe(0x8);
    expect(echo.payload.readUInt16BE(0)).toBe(4000);
    await client.closed();
    await eventually(
      () => (node as unknown as { sessions: Set<unknown> }).sessions.size === 0,
      2_000,
      "the node to drop the session",
    );
  });

  it("fails a connection that breaks the protocol with close 1002, and keeps serving others", async () => {
    const { node, wsUrl } = await cluster.node();
    const bystander = await cluster.client(wsUrl);
    const { client } = await upgraded(wsUrl);
    client.socket.write(Buffer.from([0x81, 0x01, 0x41])); // an unmasked client frame
    const close = await client.controlFrame();
    expect(close.opcode).toBe(0x8);
    expect(close.payload.readUInt16BE(0)).toBe(1002);
    expect(close.payload.subarray(2).toString()).toMatch(/masked/);
    await client.closed();
    await bystander.ok("subscribe", { channel: "plain:alive" });
    expect((node as unknown as { sessions: Set<unknown> }).sessions.size).toBe(1);
  });

  it("ends the TCP connection once the client answers the node's close frame", async () => {
    const { wsUrl } = await cluster.node({ connectTimeoutMs: 100 });
    const { client } = await upgraded(wsUrl);
    // No connect: the node closes with connect_timeout (3004) after a disconnect push.
    const close = await client.controlFrame();
    expect(close.opcode).toBe(0x8);
    expect(close.payload.readUInt16BE(0)).toBe(3004);
    expect(client.ended).toBe(false);
    client.socket.write(clientFrame(0x8, closePayload(3004)));
    await client.closed();
  });

  it.each([
    ["its first request", false],
    ["a request after another on a kept-alive connection (through Node's HTTP server)", true],
  ])("closes a connection whose peer shuts its side without a close frame, upgraded by %s", async (_, keptAlive) => {
    const { node, wsUrl } = await cluster.node();
    const client = await WireClient.open(wsUrl);
    if (keptAlive) {
      client.socket.write("HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"); // no body to skip
      expect(await client.response()).toMatch(/^HTTP\/1\.1 200 /);
    }
    client.socket.write(upgradeRequest(new URL(wsUrl).pathname));
    expect(await client.response()).toMatch(/^HTTP\/1\.1 101 /);
    const sessions = (node as unknown as { sessions: Set<unknown> }).sessions;
    await eventually(() => sessions.size === 1, 2_000, "the session");
    client.socket.end(); // a FIN, no close frame
    await client.closed();
    await eventually(() => sessions.size === 0, 2_000, "the node to drop the session");
  });
});
