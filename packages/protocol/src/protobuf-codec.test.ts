import { create, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { commands, pushes, replies } from "../test/arbitraries.js";
import { ProtocolDecodeError } from "./codec.js";
import type { Codec } from "./codec.js";
import { ErrorCode } from "./codes.js";
import type { Command, Push } from "./frames.js";
import { METHODS, PUSH_TYPES, Subprotocol } from "./frames.js";
import {
  ClientFrameSchema,
  CommandSchema,
  PushSchema,
  ReplySchema,
  ServerFrameSchema,
} from "./gen/hubcast/v1/hubcast_pb.js";
import { JsonCodec, encodeJsonData } from "./json-codec.js";
import { ProtobufCodec } from "./protobuf-codec.js";
import type { ClientFrame } from "./validate.js";

const pbCodec = new ProtobufCodec();
const jsonCodec = new JsonCodec();
const codecs: readonly [string, Codec][] = [
  ["protobuf", pbCodec],
  ["json", jsonCodec],
];
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * What decoding an encoded push gives: a publication gains `rawData`, its data as it travelled
 * (bytes in Protobuf, text in JSON; a delta's bytes are kept as they are).
 */
function withRawData(push: Push, codec: Codec): Push {
  if (push.type !== "publication" || push.body.delta === true) return push;
  const text = JSON.stringify(push.body.data);
  return { ...push, body: { ...push.body, rawData: codec === pbCodec ? utf8(text) : text } };
}

/** A client frame holding one command, built from the generated schema (so it may be invalid for Hubcast). */
const commandFrame = (command: MessageInitShape<typeof CommandSchema>): Uint8Array =>
  toBinary(ClientFrameSchema, create(ClientFrameSchema, { frame: { case: "command", value: command } }));

/** What decoding `command` must give: the command itself, plus the raw data bytes of a Protobuf publish. */
function decoded(command: Command, codec: Codec): ClientFrame {
  if (codec === pbCodec && command.method === "publish") {
    return {
      kind: "command",
      command: { ...command, request: { ...command.request, rawData: encodeJsonData(command.request.data) } },
    };
  }
  return { kind: "command", command };
}

describe("ProtobufCodec: commands", () => {
  it("speaks hubcast.v1.protobuf in binary frames", () => {
    expect(pbCodec.subprotocol).toBe(Subprotocol.protobuf);
    expect(pbCodec.binary).toBe(true);
    expect(pbCodec.decodeClientFrame(pbCodec.encodePong())).toEqual({ kind: "pong" });
  });

  it.each(codecs)(
    "%s: arbitrary valid commands survive encodeCommand → decodeClientFrame unchanged",
    (_name, codec) => {
      fc.assert(
        fc.property(commands, (command) => {
          expect(codec.decodeClientFrame(codec.encodeCommand(command))).toEqual(decoded(command, codec));
        }),
        { numRuns: 500 },
      );
    },
  );

  it("hands the server publish data as the JSON text that arrived, byte for byte", () => {
    const data = utf8(' { "price" : 1.50, "tags":["é"] } ');
    const frame = pbCodec.decodeClientFrame(
      commandFrame({ id: 3, method: { case: "publish", value: { channel: "p:x", data } } }),
    );
    expect(frame).toEqual({
      kind: "command",
      command: {
        id: 3,
        method: "publish",
        request: { channel: "p:x", data: { price: 1.5, tags: ["é"] }, rawData: data },
      },
    });
  });

  it.each([
    ["text that is not JSON", utf8("hello")],
    ["two JSON values", utf8("1 2")],
    ["invalid UTF-8", new Uint8Array([0x22, 0xff, 0x22])],
    ["a byte-order mark, which JSON subscribers could not parse", utf8("\uFEFF1")],
  ])("refuses publish data that is %s with bad_request, keeping the id", (_what, data) => {
    const frame = pbCodec.decodeClientFrame(
      commandFrame({ id: 8, method: { case: "publish", value: { channel: "p:x", data } } }),
    );
    expect(frame).toEqual({
      kind: "invalid",
      id: 8,
      code: ErrorCode.badRequest,
      message:
        'publish: field "data" must be UTF-8 JSON text (any JSON value; subscribers of both encodings get these bytes)',
    });
  });

  it("refuses publish data nested deeper than maxDataDepth, naming the limit, before parsing it", () => {
    const deep = (n: number): Uint8Array => utf8(`${"[".repeat(n)}${"]".repeat(n)}`);
    const publish = (data: Uint8Array): Uint8Array =>
      commandFrame({ id: 8, method: { case: "publish", value: { channel: "p:x", data } } });
    const message = 'publish: field "data" nests arrays/objects deeper than 3 levels (maxDataDepth)';
    expect(pbCodec.decodeClientFrame(publish(deep(4)), { maxDataDepth: 3 })).toEqual({
      kind: "invalid",
      id: 8,
      code: ErrorCode.badRequest,
      message,
    });
    expect(pbCodec.decodeClientFrame(publish(deep(3)), { maxDataDepth: 3 })).toMatchObject({ kind: "command" });
    // Unbalanced too, so only the depth scan (not the parser) can be what refuses it.
    expect(pbCodec.decodeClientFrame(publish(utf8("[".repeat(200_000))))).toMatchObject({
      kind: "invalid",
      id: 8,
      message: expect.stringContaining("512 levels") as unknown,
    });
  });

  it.each<[string, MessageInitShape<typeof CommandSchema>, Record<string, unknown>]>([
    [
      "publish without data",
      { id: 2, method: { case: "publish", value: { channel: "p:x" } } },
      { id: 2, publish: { channel: "p:x" } },
    ],
    [
      "an empty channel",
      { id: 3, method: { case: "subscribe", value: { channel: "" } } },
      { id: 3, subscribe: { channel: "" } },
    ],
    ["a refresh without token", { id: 4, method: { case: "refresh", value: {} } }, { id: 4, refresh: { token: "" } }],
    [
      "an epoch over 64 characters",
      { id: 5, method: { case: "history", value: { channel: "a", since: { offset: 1n, epoch: "x".repeat(65) } } } },
      { id: 5, history: { channel: "a", since: { offset: 1, epoch: "x".repeat(65) } } },
    ],
  ])("refuses %s exactly as the JSON encoding does", (_what, pbCommand, jsonCommand) => {
    const frame = pbCodec.decodeClientFrame(commandFrame(pbCommand));
    expect(frame).toMatchObject({ kind: "invalid", code: ErrorCode.badRequest });
    expect(frame).toEqual(jsonCodec.decodeClientFrame(JSON.stringify(jsonCommand)));
  });

  it.each<[string, MessageInitShape<typeof CommandSchema>, string]>([
    [
      "an offset",
      { id: 6, method: { case: "subscribe", value: { channel: "a", since: { offset: 2n ** 53n, epoch: "e" } } } },
      'subscribe: field "since.offset" is larger than 2^53-1',
    ],
    [
      "a limit",
      { id: 6, method: { case: "history", value: { channel: "a", limit: 2n ** 64n - 1n } } },
      'history: field "limit" is larger than 2^53-1',
    ],
  ])("refuses %s above 2^53-1 with bad_request", (_what, command, message) => {
    expect(pbCodec.decodeClientFrame(commandFrame(command))).toEqual({
      kind: "invalid",
      id: 6,
      code: ErrorCode.badRequest,
      message,
    });
  });

  it("answers a command without a method with bad_request, and an unknown method field with method_not_found", () => {
    expect(pbCodec.decodeClientFrame(commandFrame({ id: 9 }))).toEqual({
      kind: "invalid",
      id: 9,
      code: ErrorCode.badRequest,
      message: "command must hold exactly one method",
    });
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited)
      .fork()
      .tag(1, WireType.Varint)
      .uint32(10)
      .tag(42, WireType.LengthDelimited)
      .bytes(new Uint8Array(0))
      .join();
    expect(pbCodec.decodeClientFrame(w.finish())).toEqual({
      kind: "invalid",
      id: 10,
      code: ErrorCode.methodNotFound,
      message: "unknown method (Command field 42)",
    });
  });

  it("closes on frames with no usable id: id 0, an empty frame, bytes that are not Protobuf", () => {
    for (const bytes of [
      commandFrame({ id: 0, method: { case: "connect", value: {} } }),
      new Uint8Array(0),
      new Uint8Array([0xff, 0xff, 0xff]),
    ]) {
      const frame = pbCodec.decodeClientFrame(bytes);
      expect(frame).toMatchObject({ kind: "invalid", code: ErrorCode.badRequest });
      expect(frame.kind === "invalid" ? frame.id : "not invalid").toBeUndefined();
    }
    expect(pbCodec.decodeClientFrame("{}")).toMatchObject({ kind: "invalid", message: "expected a binary frame" });
  });

  it("keeps the id of a frame whose envelope is intact but whose body is broken", () => {
    const w = new BinaryWriter();
    // Command{id: 77, subscribe: <a length that runs past the end>}
    w.tag(1, WireType.LengthDelimited)
      .fork()
      .tag(1, WireType.Varint)
      .uint32(77)
      .tag(4, WireType.LengthDelimited)
      .uint32(50)
      .join();
    expect(pbCodec.decodeClientFrame(w.finish())).toEqual({
      kind: "invalid",
      id: 77,
      code: ErrorCode.badRequest,
      message: "frame is not a valid Protobuf ClientFrame",
    });
  });

  it("never throws on garbage bytes or damaged frames", () => {
    const isFrame = (frame: ClientFrame): boolean => ["command", "pong", "invalid"].includes(frame.kind);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => isFrame(pbCodec.decodeClientFrame(bytes))),
      { numRuns: 2000 },
    );
    const damaged = fc
      .tuple(commands, fc.nat(), fc.nat({ max: 255 }), fc.boolean())
      .map(([command, at, byte, truncate]) => {
        const bytes = pbCodec.encodeCommand(command);
        const i = at % bytes.length;
        if (truncate) return bytes.subarray(0, i);
        const copy = bytes.slice();
        copy[i] = byte;
        return copy;
      });
    fc.assert(
      fc.property(damaged, (bytes) => isFrame(pbCodec.decodeClientFrame(bytes))),
      { numRuns: 2000 },
    );
  });

  it("refuses to encode an integer field that is not a safe non-negative integer", () => {
    expect(() => pbCodec.encodeCommand({ id: 1, method: "history", request: { channel: "a", limit: 1.5 } })).toThrow(
      TypeError,
    );
    expect(() => pbCodec.encodeCommand({ id: 1, method: "history", request: { channel: "a", limit: -1 } })).toThrow(
      /limit must be a non-negative integer/,
    );
  });
});

describe("ProtobufCodec: replies and pushes", () => {
  it.each(codecs)("%s: arbitrary replies survive encodeReply → decodeServerFrame unchanged", (_name, codec) => {
    fc.assert(
      fc.property(replies, (reply) => {
        expect(codec.decodeServerFrame(codec.encodeReply(reply))).toEqual({ kind: "reply", reply });
      }),
      { numRuns: 500 },
    );
  });

  it.each(codecs)("%s: arbitrary pushes survive encodePush → decodeServerFrame unchanged", (_name, codec) => {
    fc.assert(
      fc.property(pushes, (push) => {
        expect(codec.decodeServerFrame(codec.encodePush(push))).toEqual({
          kind: "push",
          push: withRawData(push, codec),
        });
      }),
      { numRuns: 500 },
    );
  });

  it("writes a publication push by hand with exactly the bytes the schema gives, data copied as it is", () => {
    const data = utf8('{"price": 1.25}');
    const info = { client: "c", user: "u", info: { name: "Alice" } };
    const bytes = pbCodec.encodePublication({ channel: "p:x", data, offset: 7, info, epoch: "never sent" });
    const expected = toBinary(
      ServerFrameSchema,
      create(ServerFrameSchema, {
        frame: {
          case: "push",
          value: {
            push: {
              case: "publication",
              value: { channel: "p:x", offset: 7n, info: { ...info, info: utf8('{"name":"Alice"}') }, data },
            },
          },
        },
      }),
    );
    expect(bytes).toEqual(expected);
    expect(Buffer.from(bytes).includes(Buffer.from(data))).toBe(true);
    expect(pbCodec.decodeServerFrame(bytes)).toEqual({
      kind: "push",
      push: { type: "publication", body: { channel: "p:x", offset: 7, info, data: { price: 1.25 }, rawData: data } },
    });
    // Offset 0 and no info are written (and read back) as such too.
    const bare = pbCodec.encodePublication({ channel: "p:x", data: utf8("null"), offset: 0 });
    expect(pbCodec.decodeServerFrame(bare)).toEqual({
      kind: "push",
      push: { type: "publication", body: { channel: "p:x", offset: 0, data: null, rawData: utf8("null") } },
    });
    // A delta is flagged after its bytes (field 5), as the schema orders it.
    const delta = pbCodec.encodePublication({ channel: "p:x", data: utf8("3\n1@0,"), offset: 8, delta: true });
    const deltaExpected = toBinary(
      ServerFrameSchema,
      create(ServerFrameSchema, {
        frame: {
          case: "push",
          value: {
            push: { case: "publication", value: { channel: "p:x", offset: 8n, data: utf8("3\n1@0,"), delta: true } },
          },
        },
      }),
    );
    expect(delta).toEqual(deltaExpected);
  });

  it("throws only ProtocolDecodeError on garbage from the server", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          pbCodec.decodeServerFrame(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolDecodeError);
        }
      }),
      { numRuns: 2000 },
    );
    expect(() => pbCodec.decodeServerFrame("{}")).toThrow(ProtocolDecodeError);
    expect(() => pbCodec.decodeServerFrame(new Uint8Array(0))).toThrow(/neither a reply nor a push/);
  });

  it("refuses offsets above 2^53-1 and publication data that is not JSON", () => {
    const frame = (value: MessageInitShape<typeof PushSchema>["push"]): Uint8Array =>
      toBinary(ServerFrameSchema, create(ServerFrameSchema, { frame: { case: "push", value: { push: value } } }));
    expect(() =>
      pbCodec.decodeServerFrame(
        frame({ case: "publication", value: { channel: "c", offset: 2n ** 53n, data: utf8("1") } }),
      ),
    ).toThrow(/larger than 2\^53-1/);
    expect(() =>
      pbCodec.decodeServerFrame(frame({ case: "publication", value: { channel: "c", data: utf8("{") } })),
    ).toThrow(/publication data is not UTF-8 JSON text/);
  });
});

describe("hubcast.proto", () => {
  const oneofNames = (schema: { oneofs: readonly { fields: readonly { name: string }[] }[] }): string[] =>
    schema.oneofs[0]?.fields.map((field) => field.name) ?? [];

  it("names every method and push exactly as the JSON encoding does", () => {
    expect(oneofNames(CommandSchema)).toEqual([...METHODS]);
    expect(oneofNames(ReplySchema)).toEqual(["error", ...METHODS]);
    expect(oneofNames(PushSchema)).toEqual([...PUSH_TYPES]);
    expect(oneofNames(ClientFrameSchema)).toEqual(["command", "pong"]);
    expect(oneofNames(ServerFrameSchema)).toEqual(["reply", "push"]);
  });
});

describe("ProtobufCodec: publish data ownership", () => {
  it("copies the data bytes out of the frame, also from a Node Buffer", () => {
    const frame = Buffer.from(
      commandFrame({ id: 1, method: { case: "publish", value: { channel: "c", data: utf8("[1]") } } }),
    );
    const decoded = pbCodec.decodeClientFrame(frame);
    if (decoded.kind !== "command" || decoded.command.method !== "publish") throw new Error("not a publish");
    const raw = decoded.command.request.rawData;
    expect(raw?.buffer).not.toBe(frame.buffer);
    frame.fill(0);
    expect(raw).toEqual(utf8("[1]"));
  });
});

describe("ProtobufCodec: server output never throws", () => {
  it("rounds an auth hook's fractional expiresAt down instead of failing the reply", () => {
    const bytes = pbCodec.encodeReply({ id: 1, method: "refresh", result: { expiresAt: 1767232500000.7 } });
    expect(pbCodec.decodeServerFrame(bytes)).toEqual({
      kind: "reply",
      reply: { id: 1, method: "refresh", result: { expiresAt: 1767232500000 } },
    });
    const connect = { client: "c", version: 1, pingIntervalMs: 25_000, maxMessageBytes: 65_536, expiresAt: Number.NaN };
    expect(() => pbCodec.encodeReply({ id: 2, method: "connect", result: connect })).not.toThrow();
  });
});
