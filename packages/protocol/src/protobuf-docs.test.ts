import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "./frames.js";
import { JsonCodec } from "./json-codec.js";
import { ProtobufCodec } from "./protobuf-codec.js";
import type { ClientFrame } from "./validate.js";

/**
 * Keeps the hex example of docs/protocol.md's "Protobuf encoding" section true: each line of
 * its hex block is the frame on the same line of the JSON block before it, spelled exactly as
 * the Protobuf codec writes it.
 */

const doc = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8").split("\n");
const start = doc.indexOf("## Protobuf encoding");
const end = doc.findIndex((line, i) => i > start && line.startsWith("## "));
const section = doc.slice(start + 1, end < 0 ? undefined : end);

/** The lines of the section's first block opened by `fence` whose first line is a frame (`→ ` or `← `). */
function block(fence: string): string[] {
  const open = section.findIndex((line, i) => line === fence && /^[→←] /.test(section[i + 1] ?? ""));
  const close = section.findIndex((line, i) => i > open && line === "```");
  return section.slice(open + 1, close).filter((line) => /^[→←] /.test(line));
}

const pb = new ProtobufCodec();
const json = new JsonCodec();
const hex = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString("hex");

/** Drops what only the server side keeps (the raw publish data), to compare with the JSON decoding. */
function wireView(frame: ClientFrame): ClientFrame {
  if (frame.kind !== "command" || frame.command.method !== "publish") return frame;
  const { rawData: _raw, ...request } = frame.command.request;
  return { kind: "command", command: { ...frame.command, request } };
}

describe("docs/protocol.md Protobuf example", () => {
  const jsonLines = block("```json");
  const hexLines = block("```text");

  it("has a hex line for every JSON line", () => {
    expect(start, "no ## Protobuf encoding section").toBeGreaterThan(0);
    expect(hexLines.length).toBeGreaterThan(0);
    expect(hexLines.map((l) => l.slice(0, 2))).toEqual(jsonLines.map((l) => l.slice(0, 2)));
  });

  it.each(hexLines.map((line, i) => [line, jsonLines[i] ?? ""] as const))("%s is %s", (hexLine, jsonLine) => {
    const bytes = new Uint8Array(Buffer.from(hexLine.slice(2), "hex"));
    if (hexLine.startsWith("→ ")) {
      const frame = pb.decodeClientFrame(bytes);
      expect(wireView(frame)).toEqual(json.decodeClientFrame(jsonLine.slice(2)));
      const wire = frame.kind === "command" ? pb.encodeCommand(frame.command) : pb.encodePong();
      expect(hex(wire)).toBe(hexLine.slice(2));
    } else {
      const frame: ServerFrame = pb.decodeServerFrame(bytes);
      expect(frame).toEqual(json.decodeServerFrame(jsonLine.slice(2)));
      const wire = frame.kind === "reply" ? pb.encodeReply(frame.reply) : pb.encodePush(frame.push);
      expect(hex(wire)).toBe(hexLine.slice(2));
    }
  });
});
