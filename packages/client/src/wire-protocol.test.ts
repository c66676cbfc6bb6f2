import { ErrorCode, ProtobufCodec, Subprotocol } from "@hubcast/protocol";
import type { Reply } from "@hubcast/protocol";
import { describe, expect, it } from "vitest";
import { Client as JsonClient } from "./client.js";
import { HubcastError } from "./errors.js";
import { Link } from "./link.js";
import { webSocketCarrier } from "./websocket-carrier.js";
import type { LinkHandlers } from "./link.js";
import { resolveClientOptions } from "./options.js";
import type { WebSocketLike } from "./options.js";
import { Client } from "./protobuf.js";

const codec = new ProtobufCodec();

/** A WebSocket stand-in that records what the link does with it. */
class FakeSocket implements WebSocketLike {
  static last: FakeSocket | undefined;
  binaryType = "blob";
  readonly readyState = 1;
  readonly sent: (string | Uint8Array)[] = [];
  onopen: ((event: never) => void) | null = null;
  onmessage: ((event: never) => void) | null = null;
  onclose: ((event: never) => void) | null = null;
  onerror: ((event: never) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.last = this;
  }
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(): void {}
  /** Delivers a binary message the way browsers do with `binaryType = "arraybuffer"`. */
  receive(bytes: Uint8Array): void {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    (this.onmessage as ((event: { data: unknown }) => void) | null)?.({ data: buffer });
  }
}

function recordingHandlers(): LinkHandlers & { replies: Reply[]; errors: Error[] } {
  const replies: Reply[] = [];
  const errors: Error[] = [];
  return {
    replies,
    errors,
    onOpen: () => undefined,
    onReply: (reply) => replies.push(reply),
    onPush: () => undefined,
    onClose: () => undefined,
    onDead: () => undefined,
    onError: (error) => errors.push(error),
  };
}

describe("protocol option", () => {
  it("defaults to json, accepts protobuf, and names itself when wrong", () => {
    expect(resolveClientOptions({ websocket: FakeSocket }).protocol).toBe("json");
    expect(resolveClientOptions({ websocket: FakeSocket, protocol: "protobuf" }).protocol).toBe("protobuf");
    expect(() => resolveClientOptions({ websocket: FakeSocket, protocol: "xml" as "json" })).toThrow(
      /protocol must be one of "json", "protobuf", got "xml"/,
    );
  });

  it("is refused by the JSON-only Client at construction, naming the import that has it", () => {
    expect(() => new JsonClient("ws://x/ws", { websocket: FakeSocket, protocol: "protobuf" })).toThrow(
      'protocol "protobuf" is not in this build of the SDK, which speaks json only: ' +
        'import { Client } from "@hubcast/client/protobuf" (in a page: /sdk/hubcast-protobuf.js) to use it',
    );
    expect(new JsonClient("ws://x/ws", { websocket: FakeSocket }).state).toBe("disconnected");
  });

  it("is spoken by the Client of @hubcast/client/protobuf, which still defaults to json", () => {
    const offered = (options: { protocol?: "json" | "protobuf" }): string | string[] | undefined => {
      const client = new Client("ws://x/ws", { websocket: FakeSocket, ...options });
      client.connect();
      client.disconnect();
      return FakeSocket.last?.protocols;
    };
    expect(offered({ protocol: "protobuf" })).toBe(Subprotocol.protobuf);
    expect(offered({})).toBe(Subprotocol.json);
    expect(new Client("ws://x/ws", { websocket: FakeSocket })).toBeInstanceOf(JsonClient);
  });

  it("makes the link offer hubcast.v1.protobuf and speak it in binary frames", () => {
    const handlers = recordingHandlers();
    const link = new Link({ url: "ws://x/ws", carrier: webSocketCarrier(FakeSocket), handlers, codec });
    const socket = FakeSocket.last as FakeSocket;
    expect(socket.protocols).toBe(Subprotocol.protobuf);
    expect(socket.binaryType).toBe("arraybuffer");

    link.sendCommand({ id: 1, method: "publish", request: { channel: "c", data: { a: 1 } } });
    const sent = socket.sent[0];
    expect(sent).toBeInstanceOf(Uint8Array);
    expect(codec.decodeClientFrame(sent as Uint8Array)).toMatchObject({
      kind: "command",
      command: { id: 1, method: "publish", request: { channel: "c", data: { a: 1 } } },
    });

    socket.receive(codec.encodeReply({ id: 1, method: "publish", result: { position: { offset: 3, epoch: "e" } } }));
    expect(handlers.replies).toEqual([{ id: 1, method: "publish", result: { position: { offset: 3, epoch: "e" } } }]);
    socket.receive(codec.encodePush({ type: "ping", body: {} }));
    expect(socket.sent[1]).toEqual(codec.encodePong());
    socket.receive(new Uint8Array([0xff]));
    expect(handlers.errors).toHaveLength(1);
  });

  it("refuses a request Protobuf cannot carry as bad_request, without sending it", () => {
    const link = new Link({
      url: "ws://x/ws",
      carrier: webSocketCarrier(FakeSocket),
      handlers: recordingHandlers(),
      codec,
    });
    let thrown: unknown;
    try {
      link.sendCommand({ id: 2, method: "history", request: { channel: "c", limit: 1.5 } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(HubcastError);
    expect(thrown).toMatchObject({
      code: ErrorCode.badRequest,
      temporary: false,
      message: "history: limit must be a non-negative integer, got 1.5",
    });
    expect(FakeSocket.last?.sent).toEqual([]);
  });
});
