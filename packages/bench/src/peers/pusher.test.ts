import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";
// The server's own encoder: the frames parsed here are byte for byte what a node sends.
import { PUSHER_CODEC, pusherMessage } from "../../../server/src/pusher/codec.js";
import { encodePayload } from "../payload.js";
import { DEFAULT_PUSHER_APP } from "../pusher/app.js";
import type { PusherApp } from "../pusher/app.js";
import { Incoming, incomingFrame } from "./adapter.js";
import { BENCH_EVENT, CONNECT_ID, pusherAdapter, SUBSCRIBE_ID } from "./pusher.js";

const parse = (frame: string | Uint8Array): { kind: number; out: ReturnType<typeof incomingFrame> } => {
  const out = incomingFrame();
  return { kind: pusherAdapter.parse(Buffer.from(frame), out), out };
};
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");

/** The `pusher` server SDK's request signer (CommonJS, untyped), the reference for the signature. */
const sdkRequests = createRequire(import.meta.url)("pusher/lib/requests.js") as {
  createSignedQueryString(
    token: { key: string; sign(text: string): string },
    request: { method: string; path: string; body: string },
  ): string;
};
const sdkToken = createRequire(import.meta.url)("pusher/lib/token.js") as new (
  key: string,
  secret: string,
) => { key: string; sign(text: string): string };

describe("pusher adapter: what the server sends", () => {
  it("reads a publication's fields from an event as the node encodes it", () => {
    const data = encodePayload(3, 42, 1_700_000_000_000_001, 64);
    // Both APIs store the envelope {event, data: "<payload>"}; the node sends data, a string, last.
    const envelope = { event: BENCH_EVENT, data: JSON.parse(data) as string };
    const frame = PUSHER_CODEC.encodePublication({
      channel: "pusher.bench:bench-fanout-0",
      offset: 3,
      data: Buffer.from(JSON.stringify(envelope)),
    });
    expect(text(frame)).toBe(`{"event":"bench","channel":"bench-fanout-0","data":${data}}`);
    const { kind, out } = parse(frame);
    expect(kind).toBe(Incoming.publication);
    expect([out.lane, out.seq, out.sentAtUs]).toEqual([3, 42, 1_700_000_000_000_001]);
    // A user_id after data (client events on presence channels) does not hide it.
    expect(parse(`{"event":"client-x","channel":"c","data":${data},"user_id":"u"}`).kind).toBe(Incoming.publication);
    expect(parse('{"event":"other","channel":"c","data":"{\\"a\\":1}"}').kind).toBe(Incoming.other);
  });

  it("takes the greeting as the connect's reply and subscription_succeeded as the subscribe's", () => {
    const greeting = pusherMessage("pusher:connection_established", { socket_id: "1.2", activity_timeout: 120 });
    expect(parse(greeting)).toMatchObject({ kind: Incoming.reply, out: { id: CONNECT_ID } });
    const subscribed = pusherMessage("pusher_internal:subscription_succeeded", {}, "bench-fanout-0");
    expect(parse(subscribed)).toMatchObject({ kind: Incoming.reply, out: { id: SUBSCRIBE_ID } });
    expect([CONNECT_ID, SUBSCRIBE_ID]).toEqual([1, 2]);
  });

  it("answers pusher:ping with pusher:pong, and ignores pongs and presence pushes", () => {
    const { kind, out } = parse(pusherMessage("pusher:ping", {}));
    expect(kind).toBe(Incoming.ping);
    expect(JSON.parse(out.answer)).toEqual({ event: "pusher:pong", data: {} });
    expect(parse(pusherMessage("pusher:pong", {})).kind).toBe(Incoming.other);
    expect(parse(pusherMessage("pusher_internal:member_added", { user_id: "u" }, "presence-x")).kind).toBe(
      Incoming.other,
    );
    expect(parse("not json").kind).toBe(Incoming.other);
    expect(parse('{"event":"pusher:error","data":"not json"}')).toMatchObject({ kind: Incoming.error });
  });

  it("tells a refused connection, a refused subscribe and an announced close apart", () => {
    const appNotFound = pusherMessage("pusher:error", { code: 4001, message: "App key not in this cluster" });
    expect(parse(appNotFound)).toMatchObject({
      kind: Incoming.error,
      out: { id: CONNECT_ID, errorCode: 4001, message: "App key not in this cluster" },
    });
    const refused = pusherMessage(
      "pusher:subscription_error",
      { type: "AuthError", error: 'invalid signature for channel "private-x"', status: 401 },
      "private-x",
    );
    expect(parse(refused)).toMatchObject({
      kind: Incoming.error,
      out: { id: SUBSCRIBE_ID, errorCode: 401, message: 'AuthError: invalid signature for channel "private-x"' },
    });
    const noPong = pusherMessage("pusher:error", { code: 4201, message: "no_pong" });
    expect(parse(noPong)).toMatchObject({ kind: Incoming.disconnect, out: { closeCode: 4201, message: "no_pong" } });
    const unsubscribed = pusherMessage("pusher:error", { code: null, message: "channel closed" }, "bench-fanout-0");
    expect(parse(unsubscribed)).toMatchObject({ kind: Incoming.error, out: { id: SUBSCRIBE_ID, errorCode: 0 } });
    expect(pusherAdapter.triesLater?.(4100)).toBe(true);
    expect(pusherAdapter.triesLater?.(4201)).toBe(false);
    expect(pusherAdapter.triesLater?.(3008)).toBe(false);
  });
});

describe("pusher adapter: what the bench sends", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("subscribes as pusher-js does, after the server's greeting", () => {
    expect(pusherAdapter.serverGreets).toBe(true);
    expect(pusherAdapter.connect(1)).toBeUndefined();
    expect(JSON.parse(pusherAdapter.subscribe("bench-fanout-0", 2) ?? "")).toEqual({
      event: "pusher:subscribe",
      data: { channel: "bench-fanout-0" },
    });
  });

  it("publishes by the Pusher HTTP API, signed as the pusher SDK signs", () => {
    const app: PusherApp = { id: "7", key: "app-key", secret: "app-secret-0123" };
    vi.useFakeTimers({ now: 1_767_225_600_500 });
    const data = encodePayload(0, 1, 1, 48);
    const request = pusherAdapter.apiPublish?.("bench-fanout-0", data, { apiKey: undefined, pusherApp: app });
    expect(request?.headers).toEqual({});
    expect(JSON.parse(request?.body ?? "")).toEqual({
      name: "bench",
      channel: "bench-fanout-0",
      data: JSON.parse(data) as string,
    });
    const query = sdkRequests.createSignedQueryString(new sdkToken(app.key, app.secret), {
      method: "POST",
      path: "/apps/7/events",
      body: request?.body ?? "",
    });
    expect(request?.path).toBe(`/apps/7/events?${query}`);
    expect(query).toContain("auth_timestamp=1767225600&");
  });

  it("publishes by Hubcast's server API into the app's namespace with --api-key", () => {
    const data = encodePayload(0, 1, 1, 48);
    const request = pusherAdapter.apiPublish?.("bench-fanout-0", data, {
      apiKey: "k-123",
      pusherApp: DEFAULT_PUSHER_APP,
    });
    expect(request?.path).toBe("/api/publish");
    expect(request?.headers).toEqual({ authorization: "Bearer k-123" });
    expect(JSON.parse(request?.body ?? "")).toEqual({
      channel: "pusher.bench:bench-fanout-0",
      data: { event: "bench", data: JSON.parse(data) as string },
    });
  });

  it("explains refusals with the fix", () => {
    const explain = (operation: "connect" | "subscribe", code: number): string | undefined =>
      pusherAdapter.explainError?.({ operation, code, message: "", channel: "private-fanout-0" });
    expect(explain("connect", 4001)).toContain("--pusher-app id:key:secret");
    expect(explain("connect", 4008)).toContain("?protocol=7");
    expect(explain("subscribe", 401)).toContain("--namespace");
    const pusherApi = { apiKey: undefined, pusherApp: DEFAULT_PUSHER_APP };
    expect(pusherAdapter.explainApiError?.({ status: 404, body: "", auth: pusherApi })).toContain("--api-key");
    expect(pusherAdapter.explainApiError?.({ status: 401, body: "", auth: pusherApi })).toContain("--pusher-app");
    expect(
      pusherAdapter.explainApiError?.({ status: 401, body: "", auth: { ...pusherApi, apiKey: "k" } }),
    ).toBeUndefined();
  });
});
