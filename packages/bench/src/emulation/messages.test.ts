import { describe, expect, it } from "vitest";
import { NdjsonReader, SseReader } from "./messages.js";
import type { MessageReader, MessageSink } from "./messages.js";

/** Collects messages as text (they are views, valid only during the call). */
class Messages implements MessageSink {
  list: string[] = [];
  error: string | undefined;
  onMessage(message: Buffer): void {
    this.list.push(message.toString());
  }
  onMessageError(message: string): void {
    this.error = message;
  }
}

/**
 * Feeds `wire` cut at `cut` the way sockets read it here: into ONE reused buffer, overwritten
 * before the next read, so a reader that keeps a view instead of a copy reads garbage.
 */
function feedReused(reader: MessageReader, wire: Buffer, cut: number): void {
  const shared = Buffer.alloc(wire.length);
  for (const [from, to] of [
    [0, cut],
    [cut, wire.length],
  ] as const) {
    shared.fill(0x3f); // "?"
    wire.copy(shared, 0, from, to);
    reader.push(shared.subarray(0, to - from));
  }
  shared.fill(0x3f);
}

describe("NdjsonReader", () => {
  const lines = [
    '{"emulation":{"stream":"node-1.abcdefghijklmnopqrstuvwxyz012345"}}',
    '{"id":1,"connect":{"client":"c1"}}',
    '{"publication":{"channel":"bench:fanout-0","offset":3,"data":"0|7|1796596246237000|xxxx"}}',
  ];
  const wire = Buffer.from(`${lines.join("\n")}\n`);

  it("gives each line once, whatever byte the chunks are cut at, with the input buffer reused", () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const got = new Messages();
      feedReused(new NdjsonReader(got, 1024), wire, cut);
      expect(got.list, `cut at ${cut}`).toEqual(lines);
    }
  });

  it("holds a line that spans three chunks, drops CR before LF, skips empty lines", () => {
    const got = new Messages();
    const reader = new NdjsonReader(got, 1024);
    for (const part of ['{"a":', "1,", '"b":2}\r\n', "\n", '{"c":3}\n']) reader.push(Buffer.from(part));
    expect(got.list).toEqual(['{"a":1,"b":2}', '{"c":3}']);
  });

  it("refuses a line longer than its limit and reads nothing after", () => {
    const got = new Messages();
    const reader = new NdjsonReader(got, 16);
    reader.push(Buffer.from('{"x":"'));
    reader.push(Buffer.from("y".repeat(20)));
    reader.push(Buffer.from('"}\n{"z":1}\n'));
    expect(got.error).toMatch(/longer than 16 bytes/);
    expect(got.list).toEqual([]);
  });
});

describe("SseReader", () => {
  // What GET /emulation writes: the hello as the first event, then one `data:` event per frame,
  // `:` comments as keepalives.
  const wire = Buffer.from(
    'data: {"emulation":{"stream":"node-1.abcdefghijklmnopqrstuvwxyz012345"}}\n\n' +
      'data: {"id":1,"connect":{}}\n\n' +
      ":\n\n" +
      'data: {"publication":{"channel":"bench:fanout-0","data":"0|1|17|xx"}}\n\n',
  );
  const events = [
    '{"emulation":{"stream":"node-1.abcdefghijklmnopqrstuvwxyz012345"}}',
    '{"id":1,"connect":{}}',
    '{"publication":{"channel":"bench:fanout-0","data":"0|1|17|xx"}}',
  ];

  it("gives each event's data once, whatever byte the chunks are cut at, with the input buffer reused", () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const got = new Messages();
      feedReused(new SseReader(got, 1024), wire, cut);
      expect(got.list, `cut at ${cut}`).toEqual(events);
    }
  });

  it("joins data lines with LF, reads past event, id, retry and comments, takes CRLF and no space after the colon", () => {
    const got = new Messages();
    const reader = new SseReader(got, 1024);
    reader.push(Buffer.from("retry: 1000\n: hubcast\n\nevent: message\r\nid: e:1\r\ndata: first\r\n"));
    reader.push(Buffer.from("data:second\r\n"));
    reader.push(Buffer.from("databank: not data\n\r\n"));
    reader.push(Buffer.from("event: ping\n\n"));
    expect(got.list).toEqual(["first\nsecond"]);
  });

  it("refuses an event line longer than its limit", () => {
    const got = new Messages();
    new SseReader(got, 8).push(Buffer.from(`data: ${"z".repeat(20)}`));
    expect(got.error).toMatch(/longer than 8 bytes/);
  });
});
