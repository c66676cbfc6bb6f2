import type { ClientInfo } from "@hubcast/protocol";
import { describe, expect, it } from "vitest";
import { RedisKeys } from "./keys.js";
import { decodeBrokerMessage, encodeJoinLeave, encodePlainPublication } from "./messages.js";

const info: ClientInfo = { client: "c-1", user: "alice", info: { name: "Alice\nSmith", tags: ["a", "b"] } };
/** Every byte value, newlines and NULs included. */
const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

/** A publication message laid out as the publish script builds it: `p<offset>\n<epoch>\n<info>\n<data>`. */
function scriptMessage(offset: number, epoch: string, infoJson: string, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`p${offset}\n${epoch}\n${infoJson}\n`), data]);
}

describe("broker messages", () => {
  it.each(["join", "leave"] as const)("round-trips a %s", (type) => {
    expect(decodeBrokerMessage("chat:x", encodeJoinLeave(type, info))).toEqual({ type, channel: "chat:x", info });
  });

  it("round-trips a publication without history, with and without info", () => {
    const data = Buffer.from('{"text":"two\\nlines"}\n\n');
    expect(decodeBrokerMessage("plain:x", encodePlainPublication(data, info))).toEqual({
      type: "publication",
      pub: { channel: "plain:x", data, info },
    });
    const decoded = decodeBrokerMessage("plain:x", encodePlainPublication(data, undefined));
    expect(decoded).toEqual({ type: "publication", pub: { channel: "plain:x", data } });
  });

  it("keeps data with newlines and arbitrary bytes intact", () => {
    const decoded = decodeBrokerMessage("plain:x", encodePlainPublication(allBytes, undefined));
    expect(decoded?.type === "publication" ? Uint8Array.from(decoded.pub.data) : undefined).toEqual(allBytes);
    const fromScript = decodeBrokerMessage("chat:x", scriptMessage(3, "ep", JSON.stringify(info), allBytes));
    expect(fromScript?.type === "publication" ? Uint8Array.from(fromScript.pub.data) : undefined).toEqual(allBytes);
  });

  it("round-trips empty data", () => {
    expect(decodeBrokerMessage("plain:x", encodePlainPublication(new Uint8Array(0), undefined))).toEqual({
      type: "publication",
      pub: { channel: "plain:x", data: Buffer.alloc(0) },
    });
  });

  it("reads a publication built like the publish script builds it", () => {
    const data = Buffer.from('{"n":1}\nmore');
    expect(decodeBrokerMessage("chat:x", scriptMessage(42, "Ab-_9xyz", JSON.stringify(info), data))).toEqual({
      type: "publication",
      pub: { channel: "chat:x", data, offset: 42, epoch: "Ab-_9xyz", info },
    });
    expect(decodeBrokerMessage("chat:x", scriptMessage(9_007_199_254_740_991, "e", "", data))).toEqual({
      type: "publication",
      pub: { channel: "chat:x", data, offset: 9_007_199_254_740_991, epoch: "e" },
    });
  });

  it.each([
    ["an empty message", ""],
    ["an unknown type", "x1\ne\n\ndata"],
    ["an upper-case type", "P1\ne\n\ndata"],
    ["a message cut after the offset", "p1\n"],
    ["a message cut inside the epoch", "p1\nep"],
    ["a message cut before the data's newline", `p1\nep\n${JSON.stringify(info)}`],
    ["a message cut inside the info", 'j\n\n{"client":"c'],
    ["a join without info", "j\n\n\n"],
    ["a leave without info", "l\n\n\n"],
  ])("returns undefined for %s", (_, message) => {
    expect(decodeBrokerMessage("chat:x", Buffer.from(message))).toBeUndefined();
  });

  // Anyone with access to Redis can publish on these channels: what is not a Hubcast message
  // must come back as undefined (the broker logs it), never as an exception or a NaN offset.
  it.each([
    ["info that is not JSON", "p1\nep\n{not json\ndata"],
    ["a join with info that is not JSON", "j\n\n{\n"],
    ["an offset that is not a number", "pabc\nep\n\ndata"],
  ])("returns undefined for %s", (_, message) => {
    expect(() => decodeBrokerMessage("chat:x", Buffer.from(message))).not.toThrow();
    expect(decodeBrokerMessage("chat:x", Buffer.from(message))).toBeUndefined();
  });
});

/**
 * The part of a key Redis Cluster hashes: the text between the first `{` and the first `}`
 * after it when that is not empty, else the whole key (the rule of CLUSTER KEYSLOT).
 */
function hashedPart(key: string): string {
  const open = key.indexOf("{");
  if (open < 0) return key;
  const close = key.indexOf("}", open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

const awkwardChannels = ["chat:room", "room", "a:b:c", "chat:a{b}c", "chat:{x}", "{x}", "x}", "chat:x}:pub", "}x", "}"];

describe("RedisKeys", () => {
  it("uses the prefix hubcast by default and puts the channel in a hash tag", () => {
    const keys = new RedisKeys();
    expect(keys.prefix).toBe("hubcast");
    expect(keys.stream("chat:room")).toBe("hubcast:{chat:room}:stream");
    expect(keys.meta("chat:room")).toBe("hubcast:{chat:room}:meta");
    expect(keys.presence("chat:room")).toBe("hubcast:{chat:room}:presence");
    expect(keys.presenceExpiry("chat:room")).toBe("hubcast:{chat:room}:presence-expiry");
    expect(keys.pubsub("chat:room")).toBe("hubcast:{chat:room}:pub");
  });

  it.each(awkwardChannels)("hashes every key of channel %s alike, so they share a cluster slot", (channel) => {
    const keys = new RedisKeys("t");
    const parts = [
      keys.stream(channel),
      keys.meta(channel),
      keys.presence(channel),
      keys.presenceExpiry(channel),
      keys.pubsub(channel),
    ].map(hashedPart);
    expect(new Set(parts).size, `hashed parts: ${parts.join(", ")}`).toBe(1);
  });

  it("keeps the node registry's keys in one slot, apart from channels", () => {
    const keys = new RedisKeys("t");
    expect(hashedPart(keys.nodesInfo())).toBe("nodes");
    expect(hashedPart(keys.nodesExpiry())).toBe("nodes");
    expect(keys.nodesInfo()).not.toBe(keys.nodesExpiry());
    expect(keys.control()).toBe("t:control");
  });

  it.each(awkwardChannels)("finds channel %s again from its pub/sub name", (channel) => {
    const keys = new RedisKeys("my.prefix:v1");
    expect(keys.channelOf(keys.pubsub(channel))).toBe(channel);
  });

  it("gives distinct channels distinct keys", () => {
    const keys = new RedisKeys("t");
    const names = awkwardChannels.flatMap((c) => [
      keys.stream(c),
      keys.meta(c),
      keys.presence(c),
      keys.presenceExpiry(c),
      keys.pubsub(c),
    ]);
    expect(new Set(names).size).toBe(names.length);
  });

  it("returns undefined for names that are not its pub/sub channels", () => {
    const keys = new RedisKeys("app");
    expect(keys.channelOf(new RedisKeys("other").pubsub("chat:x"))).toBeUndefined();
    expect(keys.channelOf(new RedisKeys("app:v2").pubsub("chat:x"))).toBeUndefined();
    expect(keys.channelOf(new RedisKeys("ap").pubsub("chat:x"))).toBeUndefined();
    expect(keys.channelOf(keys.stream("chat:x"))).toBeUndefined();
    expect(keys.channelOf(keys.control())).toBeUndefined();
    expect(keys.channelOf("app:{chat:x}")).toBeUndefined();
    expect(keys.channelOf("")).toBeUndefined();
  });

  it.each(["a", "hub-cast_1.x:y", "A".repeat(64), "0"])("accepts prefix %s", (prefix) => {
    expect(new RedisKeys(prefix).prefix).toBe(prefix);
  });

  it.each(["", "A".repeat(65), "a b", "a{b", "a}b", "tab\t", "naïve", "a/b", "a*"])(
    "refuses prefix %j, naming the allowed characters",
    (prefix) => {
      expect(() => new RedisKeys(prefix)).toThrow(TypeError);
      expect(() => new RedisKeys(prefix)).toThrow(/redis prefix must be 1-64 of A-Z a-z 0-9 _ \. : -/);
    },
  );
});
