import { randomBytes } from "node:crypto";
import { request } from "node:http";
import type { NetConnectOpts, Socket } from "node:net";
import { createConnection } from "node:net";
import { deflateRawSync } from "node:zlib";
import type { ClientOptions } from "ws";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HAS_CHROMIUM, launchChromium } from "../../../test/support/chromium.js";
import { RawClient, withTimeout } from "../../../test/support/raw-client.js";
import { TestCluster } from "../../../test/support/nodes.js";
import { MessageDeflater } from "./transport/deflate.js";

const cluster = new TestCluster();
const opened: RawClient[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((c) => c.close()));
  await cluster.cleanup();
});

/** A server frame as it crossed the wire. */
interface WireFrame {
  rsv1: boolean;
  opcode: number;
  /** Payload bytes on the wire (compressed, when rsv1). */
  wireBytes: number;
}

/**
 * Reads the server's frames off a client's socket as they arrive, before `ws` inflates
 * them. The server sends nothing before `connect`, so no frame rides in the handshake's
 * packet (which `ws` would hand back to the socket and this tap would see twice).
 */
class FrameTap {
  readonly frames: WireFrame[] = [];
  private pending = Buffer.alloc(0);
  private upgraded = false;

  /** For `ws`'s `createConnection` option. */
  readonly connect = (options: NetConnectOpts): Socket => {
    const socket = createConnection(options);
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    return socket;
  };

  /** Text frames only: one per message the client's `frames` holds, in the same order. */
  get textFrames(): WireFrame[] {
    return this.frames.filter((f) => f.opcode === 0x1);
  }

  private read(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    if (!this.upgraded) {
      const end = this.pending.indexOf("\r\n\r\n");
      if (end === -1) return;
      this.pending = this.pending.subarray(end + 4);
      this.upgraded = true;
    }
    for (;;) {
      if (this.pending.length < 2) return;
      const first = this.pending[0] ?? 0;
      let length = (this.pending[1] ?? 0) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.pending.length < 4) return;
        length = this.pending.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.pending.length < 10) return;
        length = Number(this.pending.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.pending.length < offset + length) return;
      this.frames.push({ rsv1: (first & 0x40) !== 0, opcode: first & 0x0f, wireBytes: length });
      this.pending = this.pending.subarray(offset + length);
    }
  }
}

/** Both directions without context takeover, as the issue asks of a compressing client. */
const DEFLATE_CLIENT: ClientOptions["perMessageDeflate"] = {
  clientNoContextTakeover: true,
  serverNoContextTakeover: true,
};

/** A connected client offering permessage-deflate, with a tap on its wire. */
async function compressingClient(wsUrl: string): Promise<{ client: RawClient; tap: FrameTap }> {
  const tap = new FrameTap();
  const client = await RawClient.open(wsUrl, "hubcast.v1.json", {
    perMessageDeflate: DEFLATE_CLIENT,
    createConnection: tap.connect as typeof createConnection,
  });
  opened.push(client);
  await client.ok("connect", {});
  return { client, tap };
}

/** A connected client that offers no extension. */
async function plainClient(wsUrl: string): Promise<RawClient> {
  const client = await RawClient.open(wsUrl, "hubcast.v1.json", { perMessageDeflate: false });
  opened.push(client);
  await client.ok("connect", {});
  return client;
}

/** Highly compressible publication data of about `bytes` characters. */
const repetitive = (bytes: number): { rows: string[] } => ({
  rows: Array.from({ length: bytes / 32 }, (_, i) => `row ${String(i % 10)} of the same table`),
});

/** Index in `client.frames` of the first frame that `match` accepts (waiting for it). */
async function indexOf(
  client: RawClient,
  match: (frame: Record<string, unknown>) => boolean,
  what: string,
): Promise<number> {
  const frame = await client.waitFor(match, what);
  return client.frames.indexOf(frame);
}

const publicationOf =
  (data: unknown) =>
  (f: Record<string, unknown>): boolean =>
    JSON.stringify((f["publication"] as { data?: unknown } | undefined)?.data) === JSON.stringify(data);

/** The handshake's status and negotiated extensions for a client offering `extensions`. */
function handshake(wsUrl: string, extensions: string): Promise<{ status: number; extensions: string | undefined }> {
  const url = new URL(wsUrl.replace(/^ws/, "http"));
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = request(url, {
        headers: {
          Connection: "Upgrade",
          Upgrade: "websocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
          "Sec-WebSocket-Protocol": "hubcast.v1.json",
          "Sec-WebSocket-Extensions": extensions,
        },
      });
      req.on("upgrade", (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, extensions: res.headers["sec-websocket-extensions"] });
      });
      req.on("response", (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, extensions: undefined });
      });
      req.on("error", reject);
      req.end();
    }),
    5_000,
    `handshake offering ${extensions}`,
  );
}

describe("permessage-deflate negotiation", () => {
  it("is not offered when compression is off", async () => {
    const { wsUrl } = await cluster.node();
    expect(await handshake(wsUrl, "permessage-deflate; client_max_window_bits")).toEqual({
      status: 101,
      extensions: undefined,
    });
  });

  it("imposes no context takeover in both directions on a browser-style offer", async () => {
    const { wsUrl } = await cluster.node({ compression: true });
    const got = await handshake(wsUrl, "permessage-deflate; client_max_window_bits");
    expect(got.status).toBe(101);
    expect(
      got.extensions
        ?.split(";")
        .map((p) => p.trim())
        .sort(),
    ).toEqual(["client_no_context_takeover", "permessage-deflate", "server_no_context_takeover"]);
  });

  it.each([
    "permessage-deflate; server_max_window_bits=10",
    "permessage-deflate; unknown_parameter",
    "permessage-deflate; client_max_window_bits=99",
    "x-webkit-deflate-frame",
  ])("connects uncompressed, instead of failing, on an offer it cannot serve: %s", async (offer) => {
    const { wsUrl } = await cluster.node({ compression: true });
    expect(await handshake(wsUrl, offer)).toEqual({ status: 101, extensions: undefined });
  });
});

describe("compressed output", () => {
  it("compresses publications and replies at or above the threshold, and sends smaller ones plain", async () => {
    const { wsUrl } = await cluster.node({ compression: true, compressionThresholdBytes: 1024 });
    const { client, tap } = await compressingClient(wsUrl);
    expect(client.ws.extensions).toBe("permessage-deflate");
    await client.ok("subscribe", { channel: "chat:big" });
    const big = repetitive(4096);
    await client.ok("publish", { channel: "chat:big", data: big });
    await client.ok("publish", { channel: "chat:big", data: "small" });

    const bigAt = await indexOf(client, publicationOf(big), "the big publication");
    const bigSize = Buffer.byteLength(JSON.stringify(client.frames[bigAt]));
    expect(tap.textFrames[bigAt]?.rsv1).toBe(true);
    expect(tap.textFrames[bigAt]?.wireBytes).toBeLessThan(bigSize / 5);
    const smallAt = await indexOf(client, publicationOf("small"), "the small publication");
    expect(tap.textFrames[smallAt]).toMatchObject({ rsv1: false });

    // Replies to this connection alone follow the same rule: the history reply holds the big one.
    const history = await client.command("history", { channel: "chat:big", limit: 10 });
    expect(tap.textFrames[client.frames.indexOf(history)]?.rsv1).toBe(true);
    const ack = await client.command("publish", { channel: "chat:big", data: 1 });
    expect(tap.textFrames[client.frames.indexOf(ack)]?.rsv1).toBe(false);
  });

  it("deflates a publication once for many compressing subscribers, and plain clients on the channel get the same data", async () => {
    const { wsUrl } = await cluster.node({ compression: true });
    const compressing = await Promise.all(Array.from({ length: 20 }, () => compressingClient(wsUrl)));
    const plain = await Promise.all(Array.from({ length: 5 }, () => plainClient(wsUrl)));
    const everyone = [...compressing.map((c) => c.client), ...plain];
    await Promise.all(everyone.map((c) => c.ok("subscribe", { channel: "plain:fan" })));
    const publisher = await plainClient(wsUrl);
    const deflate = vi.spyOn(MessageDeflater.prototype, "deflate");

    const data = repetitive(4096);
    await publisher.ok("publish", { channel: "plain:fan", data });
    for (const c of everyone) await c.waitFor(publicationOf(data), "the publication");
    expect(deflate).toHaveBeenCalledTimes(1);

    for (const { client, tap } of compressing)
      expect(tap.textFrames[client.frames.findIndex(publicationOf(data))]?.rsv1).toBe(true);
    const bodies = everyone.map((c) => c.pushes("publication", "plain:fan"));
    for (const body of bodies) expect(body).toEqual(bodies[0]);
  });

  it("inflates a compressed client message within maxMessageBytes", async () => {
    const { wsUrl } = await cluster.node({ compression: true });
    const { client: publisher } = await compressingClient(wsUrl);
    const subscriber = await plainClient(wsUrl);
    await subscriber.ok("subscribe", { channel: "plain:in" });
    const data = repetitive(20_000); // ws's client deflates messages from 1 KiB up
    await publisher.ok("publish", { channel: "plain:in", data });
    await subscriber.waitFor(publicationOf(data), "the inflated publication");
  });

  it("closes with 1009 a compressed message that would inflate past maxMessageBytes", async () => {
    const { wsUrl } = await cluster.node({ compression: true, maxMessageBytes: 65_536 });
    const { client } = await compressingClient(wsUrl);
    const bomb = JSON.stringify({ id: 99, publish: { channel: "plain:x", data: "a".repeat(16 * 1024 * 1024) } });
    // Small on the wire, so only the inflated size can trip the limit.
    expect(deflateRawSync(bomb).length).toBeLessThan(65_536);
    client.send(bomb);
    expect((await client.closed).code).toBe(1009);
    expect(client.frames.find((f) => f["id"] === 99)).toBeUndefined();
    // The node stays up for everyone else.
    const other = await plainClient(wsUrl);
    expect(await other.ok("subscribe", { channel: "plain:x" })).toBeDefined();
  });
});

describe("a browser", () => {
  it.skipIf(!HAS_CHROMIUM)(
    "negotiates compression and reads compressed frames (Chromium)",
    async () => {
      const { wsUrl } = await cluster.node({ compression: true });
      const deflate = vi.spyOn(MessageDeflater.prototype, "deflate");
      const browser = await launchChromium(15_000);
      try {
        const page = await browser.newPage();
        const data = repetitive(4096);
        const got = await page.evaluate(
          async ({ url, data }) => {
            const ws = new WebSocket(url, "hubcast.v1.json");
            const frames: Record<string, unknown>[] = [];
            const next = (match: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
              new Promise((resolve) => {
                const seen = frames.find(match);
                if (seen !== undefined) return resolve(seen);
                ws.addEventListener("message", function check() {
                  const found = frames.find(match);
                  if (found === undefined) return;
                  ws.removeEventListener("message", check);
                  resolve(found);
                });
              });
            ws.addEventListener("message", (e) => frames.push(JSON.parse(String(e.data)) as Record<string, unknown>));
            await new Promise((resolve) => ws.addEventListener("open", resolve));
            ws.send(JSON.stringify({ id: 1, connect: {} }));
            await next((f) => f["id"] === 1);
            ws.send(JSON.stringify({ id: 2, subscribe: { channel: "plain:browser" } }));
            await next((f) => f["id"] === 2);
            ws.send(JSON.stringify({ id: 3, publish: { channel: "plain:browser", data } }));
            const pub = await next((f) => f["publication"] !== undefined);
            return { extensions: ws.extensions, data: (pub["publication"] as { data: unknown }).data };
          },
          { url: wsUrl, data },
        );
        expect(got.extensions).toContain("permessage-deflate");
        expect(got.data).toEqual(data);
        expect(deflate).toHaveBeenCalled(); // the publication went out compressed
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
