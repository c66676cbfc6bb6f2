import { describe, expect, it } from "vitest";
import { ErrorCode } from "./codes.js";
import { JsonCodec, decodeJsonData, encodeJsonData } from "./json-codec.js";
import { parseClientFrame } from "./validate.js";

const codec = new JsonCodec();

describe("parseClientFrame", () => {
  it("keeps a publish's idempotencyKey of 1 to 64 characters and refuses others with bad_request", () => {
    const publish = (idempotencyKey: unknown): unknown =>
      parseClientFrame({ id: 9, publish: { channel: "c", data: 1, idempotencyKey } });
    const key = "k".repeat(64);
    expect(publish(key)).toEqual({
      kind: "command",
      command: { id: 9, method: "publish", request: { channel: "c", data: 1, idempotencyKey: key } },
    });
    for (const bad of ["", "k".repeat(65), 7]) {
      expect(publish(bad)).toMatchObject({
        kind: "invalid",
        id: 9,
        code: ErrorCode.badRequest,
        message: expect.stringContaining('"idempotencyKey" must be a string of 1 to 64 characters'),
      });
    }
  });

  it("returns a clean command holding only known fields", () => {
    const frame = parseClientFrame({
      id: 4,
      subscribe: { channel: "a:b", since: { offset: 2, epoch: "e", extra: 1 }, junk: true },
    });
    expect(frame).toEqual({
      kind: "command",
      command: { id: 4, method: "subscribe", request: { channel: "a:b", since: { offset: 2, epoch: "e" } } },
    });
  });

  it("keeps the token of subscribe and refresh", () => {
    expect(parseClientFrame({ id: 1, subscribe: { channel: "p:x", token: "t" } })).toEqual({
      kind: "command",
      command: { id: 1, method: "subscribe", request: { channel: "p:x", token: "t" } },
    });
    expect(parseClientFrame({ id: 2, refresh: { token: "t", other: 1 } })).toEqual({
      kind: "command",
      command: { id: 2, method: "refresh", request: { token: "t" } },
    });
  });

  it("recognises a pong", () => {
    expect(parseClientFrame({ pong: {} })).toEqual({ kind: "pong" });
  });

  it.each([
    [null, undefined],
    [[], undefined],
    [{ connect: {} }, undefined],
    [{ id: 0, connect: {} }, undefined],
    [{ id: 1.5, connect: {} }, undefined],
    [{ id: "1", connect: {} }, undefined],
    [{ id: 2 }, 2],
    [{ id: 3, connect: {}, publish: {} }, 3],
    [{ id: 4, publish: { channel: "a" } }, 4],
    [{ id: 5, subscribe: { channel: "" } }, 5],
    [{ id: 6, history: { channel: "a", limit: 1.5 } }, 6],
    [{ id: 7, subscribe: { channel: "a", since: { offset: 1, epoch: "x".repeat(65) } } }, 7],
    [{ id: 8, subscribe: { channel: "a", token: 42 } }, 8],
    [{ id: 10, refresh: {} }, 10],
    [{ id: 11, refresh: { token: "" } }, 11],
  ])("refuses %j with bad_request, keeping the id when it is usable", (value, id) => {
    const frame = parseClientFrame(value);
    expect(frame).toMatchObject({ kind: "invalid", code: ErrorCode.badRequest });
    expect(frame.kind === "invalid" ? frame.id : "not invalid").toBe(id);
  });

  it("refuses unknown methods with method_not_found", () => {
    expect(parseClientFrame({ id: 9, teleport: {} })).toMatchObject({
      kind: "invalid",
      id: 9,
      code: ErrorCode.methodNotFound,
    });
  });
});

describe("JsonCodec", () => {
  it("writes a publication push with data last, copied byte for byte", () => {
    const data = encodeJsonData({ price: 1.25, tags: ["a"] });
    const bytes = codec.encodePublication({ channel: "p:x", data, offset: 7, info: { client: "c", user: "u" } });
    const text = new TextDecoder().decode(bytes);
    expect(text).toBe(
      '{"publication":{"channel":"p:x","offset":7,"info":{"client":"c","user":"u"},"data":{"price":1.25,"tags":["a"]}}}',
    );
    expect(codec.decodeServerFrame(bytes)).toEqual({
      kind: "push",
      push: {
        type: "publication",
        body: {
          channel: "p:x",
          offset: 7,
          info: { client: "c", user: "u" },
          data: { price: 1.25, tags: ["a"] },
          rawData: '{"price":1.25,"tags":["a"]}',
        },
      },
    });
  });

  it("round-trips commands and replies between the client and server halves", () => {
    const wire = codec.encodeCommand({ id: 3, method: "publish", request: { channel: "c", data: [1, "two"] } });
    expect(codec.decodeClientFrame(wire)).toEqual({
      kind: "command",
      command: { id: 3, method: "publish", request: { channel: "c", data: [1, "two"] } },
    });
    const reply = codec.encodeReply({ id: 3, method: "publish", result: { position: { offset: 1, epoch: "e" } } });
    expect(codec.decodeServerFrame(reply)).toEqual({
      kind: "reply",
      reply: { id: 3, method: "publish", result: { position: { offset: 1, epoch: "e" } } },
    });
    const error = codec.encodeReply({ id: 4, error: { code: 103, message: "no", temporary: false } });
    expect(codec.decodeServerFrame(error)).toEqual({
      kind: "reply",
      reply: { id: 4, error: { code: 103, message: "no", temporary: false } },
    });
  });

  it("refuses publish data nested deeper than maxDataDepth with bad_request naming the limit", () => {
    const publish = (depth: number): string =>
      `{"id":5,"publish":{"channel":"c","data":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
    const message = 'publish: field "data" nests arrays/objects deeper than 3 levels (maxDataDepth)';
    expect(codec.decodeClientFrame(publish(4), { maxDataDepth: 3 })).toEqual({
      kind: "invalid",
      id: 5,
      code: ErrorCode.badRequest,
      message,
    });
    expect(codec.decodeClientFrame(publish(3), { maxDataDepth: 3 })).toMatchObject({ kind: "command" });
    // Without limits the codec still refuses what JSON.stringify could not encode again.
    expect(codec.decodeClientFrame(publish(20_000))).toMatchObject({
      kind: "invalid",
      id: 5,
      message: expect.stringContaining("512 levels") as unknown,
    });
  });

  it("reports frames that are not JSON or not UTF-8 as invalid instead of throwing", () => {
    expect(codec.decodeClientFrame("{")).toMatchObject({ kind: "invalid", code: ErrorCode.badRequest });
    expect(codec.decodeClientFrame(new Uint8Array([0x7b, 0xff, 0x7d]))).toMatchObject({ kind: "invalid" });
    expect(codec.decodeClientFrame("[".repeat(200_000))).toMatchObject({ kind: "invalid" });
    expect(() => codec.decodeServerFrame("nope")).toThrow(/not valid JSON/);
    expect(decodeJsonData(encodeJsonData("ünïcode ✓"))).toBe("ünïcode ✓");
  });
});
