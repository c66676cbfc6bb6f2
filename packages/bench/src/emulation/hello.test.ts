import { describe, expect, it } from "vitest";
import { parseWsTarget } from "../ws/handshake.js";
import { emulationPath, parseHello, readEmulationHead } from "./hello.js";

describe("parseHello", () => {
  it("reads the stream id from the emulation's first line", () => {
    const id = "6d78d714-f878-48a5-95e2-d234c08fbec9.abcdefghijklmnopqrstuvwxyz012345";
    expect(parseHello(Buffer.from(`{"emulation":{"stream":"${id}"}}`))).toBe(id);
  });

  it("is undefined for anything else: a protocol frame, broken JSON, an empty id", () => {
    expect(parseHello(Buffer.from('{"id":1,"connect":{}}'))).toBeUndefined();
    expect(parseHello(Buffer.from('{"emulation":{"stream":'))).toBeUndefined();
    expect(parseHello(Buffer.from('{"emulation":{"stream":""}}'))).toBeUndefined();
    expect(parseHello(Buffer.from('{"emulation":{}}'))).toBeUndefined();
    expect(parseHello(Buffer.from(""))).toBeUndefined();
  });
});

describe("emulationPath", () => {
  it("puts the emulation beside the WebSocket path", () => {
    expect(emulationPath(parseWsTarget("ws://127.0.0.1:8080/ws"))).toBe("/emulation");
    expect(emulationPath(parseWsTarget("wss://example.test/realtime/ws?token=x"))).toBe("/realtime/emulation");
    expect(emulationPath(parseWsTarget("ws://127.0.0.1:8080"))).toBe("/emulation");
  });
});

describe("readEmulationHead", () => {
  it("waits for the whole head", () => {
    expect(readEmulationHead(Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/x-nd")).kind).toBe("incomplete");
  });

  it("opens on 200, says whether the body is chunked, and hands back the body's first bytes", () => {
    const head = readEmulationHead(
      Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n21\r\n{"),
    );
    expect(head).toMatchObject({ kind: "open", chunked: true });
    expect(head.kind === "open" && head.rest.toString()).toBe("21\r\n{");
    expect(readEmulationHead(Buffer.from("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"))).toMatchObject({
      kind: "open",
      chunked: false,
    });
  });

  it("refuses other statuses with the error body, and a 503's Retry-After in ms", () => {
    const body = '{"error":{"code":"unavailable","message":"node is not accepting connections"}}';
    expect(
      readEmulationHead(
        Buffer.from(
          `HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ),
      ),
    ).toEqual({ kind: "refused", message: `HTTP 503 Service Unavailable: ${body}`, retryAfterMs: 2000 });
    expect(readEmulationHead(Buffer.from("HTTP/1.1 404 Not Found\r\n\r\n"))).toEqual({
      kind: "refused",
      message: "HTTP 404 Not Found",
      retryAfterMs: undefined,
    });
    expect(readEmulationHead(Buffer.from("SSH-2.0-OpenSSH\r\n\r\n"))).toMatchObject({ kind: "refused" });
  });
});
