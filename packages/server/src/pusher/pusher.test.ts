import PusherServer from "pusher";
import { pino } from "pino";
import type { ClientInfo } from "@hubcast/protocol";
import { CloseCode, shouldReconnect } from "@hubcast/protocol";
import { describe, expect, it } from "vitest";
import { MemoryPresence } from "../presence/memory.js";
import { parsePusherAppFlag, resolvePusherApps } from "./apps.js";
import { channelKind, invalidChannelName, pusherChannelOptions } from "./channels.js";
import { PusherClose, pusherCloseCode } from "./close-codes.js";
import { NATIVE_EVENT, PUSHER_CODEC } from "./codec.js";
import { PresenceReconciler } from "./presence-reconciler.js";
import { validChannelAuth, validSigninAuth } from "./signatures.js";

const [app] = resolvePusherApps([{ id: "1", key: "key-1", secret: "secret-1234" }]);
if (app === undefined) throw new Error("no app");
const sdk = new PusherServer({ appId: "1", key: "key-1", secret: "secret-1234", host: "127.0.0.1" });

describe("Pusher signatures", () => {
  it("accepts what the pusher SDK signs for private and presence channels and sign-in, and nothing else", () => {
    const priv = sdk.authorizeChannel("1.2", "private-a");
    expect(
      validChannelAuth(app, { socketId: "1.2", channel: "private-a", auth: priv.auth, channelData: undefined }),
    ).toBe(true);
    expect(
      validChannelAuth(app, { socketId: "1.3", channel: "private-a", auth: priv.auth, channelData: undefined }),
    ).toBe(false);
    expect(
      validChannelAuth(app, { socketId: "1.2", channel: "private-b", auth: priv.auth, channelData: undefined }),
    ).toBe(false);
    expect(validChannelAuth(app, { socketId: "1.2", channel: "private-a", auth: 42, channelData: undefined })).toBe(
      false,
    );
    const presence = sdk.authorizeChannel("1.2", "presence-r", { user_id: "u", user_info: { n: 1 } });
    const request = { socketId: "1.2", channel: "presence-r", auth: presence.auth, channelData: presence.channel_data };
    expect(validChannelAuth(app, request)).toBe(true);
    expect(validChannelAuth(app, { ...request, channelData: '{"user_id":"admin"}' })).toBe(false);
    const signin = sdk.authenticateUser("1.2", { id: "ann" });
    expect(validSigninAuth(app, "1.2", signin.auth, signin.user_data)).toBe(true);
    expect(validSigninAuth(app, "1.2", signin.auth, '{"id":"bob"}')).toBe(false);
  });
});

describe("Pusher channel names", () => {
  it("knows each kind, and refuses what Pusher refuses", () => {
    expect(channelKind("news")).toMatchObject({ authorized: false, presence: false, cache: false });
    expect(channelKind("private-a")).toMatchObject({ authorized: true, presence: false, encrypted: false });
    expect(channelKind("private-encrypted-a")).toMatchObject({ authorized: true, encrypted: true });
    expect(channelKind("presence-cache-a")).toMatchObject({ authorized: true, presence: true, cache: true });
    expect(channelKind("#server-to-user-ann")).toMatchObject({ user: "ann", authorized: false });
    expect(invalidChannelName("a b")).toBeDefined();
    expect(invalidChannelName("x".repeat(165))).toBeDefined();
    expect(invalidChannelName("ok_-=@,.;")).toBeUndefined();
    expect(invalidChannelName("#server-to-user-")).toBeDefined();
  });

  it("keeps presence on presence channels, the last event on cache channels, and native clients out of private ones", () => {
    const shared = pusherChannelOptions({ subscribe: "anyone", allowPublish: true }, "t");
    expect(shared("news").subscribe).toBe("anyone");
    expect(shared("private-x").subscribe).toBe("token");
    expect(shared("presence-x")).toMatchObject({ presence: true, subscribe: "token" });
    expect(shared("cache-x").history.size).toBe(1);
    const own = pusherChannelOptions(undefined, "t");
    expect(own("news").subscribe).toBe("token");
    expect(shared("news")).toBe(shared("news-2")); // prepared objects, not one per lookup
  });
});

describe("Pusher close codes", () => {
  it("keep the reconnect meaning of each catalogue code", () => {
    expect(pusherCloseCode(CloseCode.shutdown)).toBe(PusherClose.reconnect);
    expect(pusherCloseCode(CloseCode.noPong)).toBe(PusherClose.pongNotReceived);
    expect(pusherCloseCode(CloseCode.forceDisconnect)).toBe(PusherClose.unauthorized);
    expect(pusherCloseCode(PusherClose.overQuota)).toBe(PusherClose.overQuota);
    for (const code of Object.values(CloseCode).filter((c) => c >= 3000)) {
      const pusher = pusherCloseCode(code);
      // Pusher: 4000-4099 final, 4100-4299 reconnect.
      expect(pusher >= 4100 && pusher < 4300, String(code)).toBe(shouldReconnect(code));
    }
  });
});

describe("the Pusher encoding", () => {
  const decode = (bytes: Uint8Array): Record<string, unknown> => JSON.parse(new TextDecoder().decode(bytes));
  const raw = (data: unknown) => ({ channel: "pusher.1:news", data: new TextEncoder().encode(JSON.stringify(data)) });

  it("sends an envelope's event with its data as a JSON string, and a native publication as the message event", () => {
    expect(decode(PUSHER_CODEC.encodePublication(raw({ event: "e", data: { a: 1 }, socket_id: "1.2" })))).toEqual({
      event: "e",
      channel: "news",
      data: '{"a":1}',
    });
    expect(decode(PUSHER_CODEC.encodePublication(raw({ event: "e", data: "text", user_id: "u" })))).toEqual({
      event: "e",
      channel: "news",
      data: "text",
      user_id: "u",
    });
    expect(decode(PUSHER_CODEC.encodePublication(raw({ price: 3 })))).toEqual({
      event: NATIVE_EVENT,
      channel: "news",
      data: '{"price":3}',
    });
    const broken = { channel: "pusher.1:news", data: new TextEncoder().encode("{not json") };
    expect(decode(PUSHER_CODEC.encodePublication(broken))).toMatchObject({ event: NATIVE_EVENT, data: "{not json" });
  });

  it("encodes members, pings and disconnects as Pusher does", () => {
    const info: ClientInfo = { client: "1.2", user: "ann", info: { n: 1 } };
    expect(decode(PUSHER_CODEC.encodePush({ type: "join", body: { channel: "pusher.1:presence-r", info } }))).toEqual({
      event: "pusher_internal:member_added",
      channel: "presence-r",
      data: '{"user_id":"ann","user_info":{"n":1}}',
    });
    expect(decode(PUSHER_CODEC.encodePush({ type: "ping", body: {} }))).toEqual({ event: "pusher:ping", data: "{}" });
    const disconnect = decode(
      PUSHER_CODEC.encodePush({ type: "disconnect", body: { code: 3000, reason: "shutdown", reconnect: true } }),
    );
    expect(JSON.parse(disconnect.data as string)).toEqual({ code: 4200, message: "shutdown" });
  });
});

describe("Pusher app options", () => {
  it("refuse what cannot work, naming the option", () => {
    expect(() => resolvePusherApps([{ id: "1", key: "k", secret: "short" }])).toThrow(/pusherApps\[0\]\.secret/);
    expect(() =>
      resolvePusherApps([
        { id: "1", key: "k", secret: "secret-1234" },
        { id: "2", key: "k", secret: "secret-1234" },
      ]),
    ).toThrow(/pusherApps\[1\]\.key: "k" is used twice/);
    expect(() =>
      resolvePusherApps([{ id: "1", key: "k", secret: "secret-1234", webhooks: [{ url: "ftp://x" }] }]),
    ).toThrow(/webhooks\[0\]\.url/);
    expect(() => resolvePusherApps([{ id: "1", key: "k", secret: "secret-1234", clientEvent: true }])).toThrow(
      /did you mean "clientEvents"/,
    );
    expect(parsePusherAppFlag("1:key:sec:ret")).toEqual({ id: "1", key: "key", secret: "sec:ret" });
    expect(() => parsePusherAppFlag("1:key")).toThrow(/id:key:secret/);
  });
});

describe("PresenceReconciler", () => {
  it("pushes member_removed for a member gone from the store two reads in a row, and member_added for one that appeared", async () => {
    const presence = new MemoryPresence();
    const pushes: string[] = [];
    const removed: string[] = [];
    const reconciler = new PresenceReconciler({
      channels: () => ["ns:presence-r"],
      presence,
      deliver: (type, _channel, info) => pushes.push(`${type}:${info.user}`),
      removed: (_channel, user) => removed.push(user),
      intervalMs: 60_000,
      logger: pino({ level: "silent" }),
    });
    try {
      await presence.add("ns:presence-r", { client: "1.1", user: "ann" });
      await presence.add("ns:presence-r", { client: "2.2", user: "bob" });
      await reconciler.reconcile(); // first look: nothing to say
      await presence.remove("ns:presence-r", "2.2"); // bob's node died; no leave push came
      await reconciler.reconcile();
      expect(pushes).toEqual([]); // once is not enough: a push may be on its way
      await reconciler.reconcile();
      expect(pushes).toEqual(["leave:bob"]);
      expect(removed).toEqual(["bob"]);
      // A leave that was pushed is not pushed again; a join that was pushed is not repeated.
      await presence.add("ns:presence-r", { client: "3.3", user: "cy" });
      reconciler.observe("join", "ns:presence-r", { client: "3.3", user: "cy" });
      await reconciler.reconcile();
      await reconciler.reconcile();
      expect(pushes).toEqual(["leave:bob"]);
      await presence.add("ns:presence-r", { client: "4.4", user: "dee" }); // its join push was lost
      await reconciler.reconcile();
      await reconciler.reconcile();
      expect(pushes).toEqual(["leave:bob", "join:dee"]);
    } finally {
      reconciler.stop();
    }
  });

  it("starts from the members the first subscriber was shown, so a stale leave that came before its first read is still corrected", async () => {
    const presence = new MemoryPresence();
    const pushes: string[] = [];
    const reconciler = new PresenceReconciler({
      channels: () => ["ns:presence-r"],
      presence,
      deliver: (type, _channel, info) => pushes.push(`${type}:${info.user}`),
      removed: () => {},
      intervalMs: 60_000,
      logger: pino({ level: "silent" }),
    });
    try {
      await presence.add("ns:presence-r", { client: "1.1", user: "ann" });
      await presence.add("ns:presence-r", { client: "2.2", user: "bob" });
      reconciler.startFrom("ns:presence-r", [
        { client: "1.1", user: "ann" },
        { client: "2.2", user: "bob" },
      ]);
      // Bob reloaded onto another node: his old node's leave arrives after his new join, so the
      // subscribers here were told he left while the store holds him.
      reconciler.observe("leave", "ns:presence-r", { client: "0.9", user: "bob" });
      await reconciler.reconcile();
      expect(pushes).toEqual([]);
      await reconciler.reconcile();
      expect(pushes).toEqual(["join:bob"]);
    } finally {
      reconciler.stop();
    }
  });
});
