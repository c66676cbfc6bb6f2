import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "./codes.js";
import { JsonCodec, encodeJsonData } from "./json-codec.js";
import { bytesToLatin1, latin1ToBytes, publicationDataText } from "./json-publication.js";
import { ProtobufCodec } from "./protobuf-codec.js";

const json = new JsonCodec();
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe("a delta's bytes in a JSON string", () => {
  it("survive every byte value, through JSON text and back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const spelled = JSON.stringify(bytesToLatin1(bytes));
        expect(latin1ToBytes(JSON.parse(spelled) as string)).toEqual(bytes);
      }),
    );
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(latin1ToBytes(bytesToLatin1(all))).toEqual(all);
  });

  it("refuses a string with a character above U+00FF", () => {
    expect(latin1ToBytes("ok\u0100")).toBeUndefined();
  });
});

describe("publicationDataText", () => {
  it('finds data\'s exact text after any head, even one holding a "data" key of its own', () => {
    const data = '{"b":[1, 2.50],"s":"x\\"}"}';
    const info = { client: "c", user: "u", info: { data: '"data":}', nested: [{ data: 1 }] } };
    const frame = text(
      json.encodePublication({ channel: "c:1", offset: 9, info, data: new TextEncoder().encode(data) }),
    );
    expect(publicationDataText(frame)).toBe(data);
  });

  it("is undefined for frames not laid out as the server writes them", () => {
    expect(publicationDataText('{"join":{"channel":"c"}}')).toBeUndefined();
    expect(publicationDataText('{"publication":{"channel":"c"}}')).toBeUndefined();
    expect(publicationDataText('{"publication":{"channel":"c" ,"data":1}}')).toBeUndefined();
  });
});

describe("delta publications in both encodings", () => {
  const delta = new Uint8Array([0x31, 0x0a, 0x22, 0x5c, 0x00, 0xff, 0x80, 0x3b]);

  it("JSON: flags the delta, carries its bytes in a string, keeps data last", () => {
    const frame = json.encodePublication({ channel: "c:1", offset: 3, data: delta, delta: true });
    expect(text(frame)).toBe(
      `{"publication":{"channel":"c:1","offset":3,"delta":true,"data":"1\\n\\"\\\\\\u0000ÿ\u0080;"}}`,
    );
    expect(json.decodeServerFrame(frame)).toEqual({
      kind: "push",
      push: { type: "publication", body: { channel: "c:1", offset: 3, delta: true, data: null, rawData: delta } },
    });
  });

  it("JSON: a delta that is not a string of bytes decodes to an empty delta (which never applies)", () => {
    const decoded = json.decodeServerFrame('{"publication":{"channel":"c","delta":true,"data":"\u0100"}}');
    expect(decoded).toMatchObject({ push: { body: { delta: true, data: null, rawData: new Uint8Array(0) } } });
  });

  it("Protobuf: carries the bytes as they are", () => {
    const pb = new ProtobufCodec();
    const frame = pb.encodePublication({ channel: "c:1", offset: 3, data: delta, delta: true });
    expect(pb.decodeServerFrame(frame)).toEqual({
      kind: "push",
      push: { type: "publication", body: { channel: "c:1", offset: 3, delta: true, data: null, rawData: delta } },
    });
    // Full publications carry their data bytes as rawData too: the base of the next delta.
    const full = pb.decodeServerFrame(pb.encodePublication({ channel: "c:1", data: encodeJsonData({ a: 1 }) }));
    expect(full).toMatchObject({ push: { body: { data: { a: 1 }, rawData: encodeJsonData({ a: 1 }) } } });
  });
});

describe("subscribe's delta field", () => {
  it.each([
    ["json", json],
    ["protobuf", new ProtobufCodec()],
  ] as const)('%s: accepts "fossil" and refuses anything else with 107', (_name, codec) => {
    const ok = codec.encodeCommand({ id: 1, method: "subscribe", request: { channel: "c", delta: "fossil" } });
    expect(codec.decodeClientFrame(ok)).toEqual({
      kind: "command",
      command: { id: 1, method: "subscribe", request: { channel: "c", delta: "fossil" } },
    });
    const bad = codec.encodeCommand({
      id: 2,
      method: "subscribe",
      request: { channel: "c", delta: "gzip" as "fossil" },
    });
    expect(codec.decodeClientFrame(bad)).toEqual({
      kind: "invalid",
      id: 2,
      code: ErrorCode.badRequest,
      message: 'subscribe: field "delta" must be one of "fossil"',
    });
  });

  it("JSON: refuses a delta that is not a string", () => {
    expect(json.decodeClientFrame('{"id":3,"subscribe":{"channel":"c","delta":true}}')).toMatchObject({
      kind: "invalid",
      code: ErrorCode.badRequest,
    });
  });
});
