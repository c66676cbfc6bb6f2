import type { EventEmitter } from "node:events";
import * as ws from "ws";
import { describe, expect, it } from "vitest";
import { buildFrame, closeFrame, pongFrame } from "./frame.js";

/** `ws` exports its frame parser at runtime, but its type definitions leave it out. */
interface FrameReceiver extends EventEmitter {
  write(chunk: Buffer): void;
}
const { Receiver } = ws as unknown as {
  Receiver: new (options: { isServer: boolean; maxPayload: number }) => FrameReceiver;
};

/** Parses frames with the `ws` library's own receiver: an independent check of the framing. */
function parse(frame: Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    receiver.on("message", (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
    receiver.on("error", reject);
    receiver.write(frame);
  });
}

describe("buildFrame", () => {
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 200_000])(
    "frames a %i-byte payload that ws reads back",
    async (length) => {
      const payload = Buffer.alloc(length, 0x61);
      const got = await parse(buildFrame(payload, false));
      expect(got.isBinary).toBe(false);
      expect(got.data.equals(payload)).toBe(true);
    },
  );

  it("marks binary frames as binary", async () => {
    expect((await parse(buildFrame(new Uint8Array([1, 2, 3]), true))).isBinary).toBe(true);
  });
});

/** Reads one control frame with `ws`'s receiver: the event it emits and its arguments. */
function parseControl(frame: Buffer, event: "conclude" | "pong"): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    receiver.on(event, (...args: unknown[]) => resolve(args));
    receiver.on("error", reject);
    receiver.write(frame);
  });
}

describe("control frames", () => {
  it("builds a close frame that ws reads as the code and reason", async () => {
    const [code, reason] = await parseControl(closeFrame(3002, "no_pong"), "conclude");
    expect(code).toBe(3002);
    expect(String(reason)).toBe("no_pong");
  });

  it("cuts a long reason to fit 125 bytes without splitting a character", async () => {
    const frame = closeFrame(1002, "é".repeat(100));
    expect(frame.length).toBeLessThanOrEqual(127);
    const [, reason] = await parseControl(frame, "conclude");
    expect(String(reason)).toBe("é".repeat(61));
  });

  it("builds a pong that carries the ping's payload", async () => {
    const [payload] = await parseControl(pongFrame(Buffer.from("are you there?")), "pong");
    expect(String(payload)).toBe("are you there?");
  });
});
