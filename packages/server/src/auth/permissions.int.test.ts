import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import { TestCluster } from "../../../../test/support/nodes.js";
import type { RawClient } from "../../../../test/support/raw-client.js";
import { TEST_SECRET, sign } from "../../../../test/support/tokens.js";

const NAMESPACES = {
  open: {},
  members: { subscribe: "authenticated" },
  vip: { subscribe: "listed" },
  private: { subscribe: "token" },
} as const;

type Who = "anonymous" | "bob" | "alice";

const cluster = new TestCluster();
const clients = new Map<Who, RawClient>();
let channelSeq = 0;

beforeAll(async () => {
  const { wsUrl } = await cluster.node({ namespaces: NAMESPACES, tokenHmacSecret: TEST_SECRET });
  const tokens: Record<Who, string | undefined> = {
    anonymous: undefined,
    bob: await sign({ sub: "bob" }),
    alice: await sign({ sub: "alice", channels: ["vip:gold", "vip:team-*"] }),
  };
  for (const [who, token] of Object.entries(tokens) as [Who, string | undefined][]) {
    const client = await cluster.client(wsUrl, false);
    await client.ok("connect", token === undefined ? {} : { token });
    clients.set(who, client);
  }
});
afterAll(() => cluster.cleanup());

/** Subscribes `who` to `channel` (made unique per case, so no case sees another's subscription). */
async function subscribe(who: Who, channel: string, token?: string): Promise<"ok" | number> {
  const client = clients.get(who);
  if (client === undefined) throw new Error(`no client ${who}`);
  const request = token === undefined ? { channel } : { channel, token };
  const reply = await client.command("subscribe", request);
  if (reply["error"] === undefined) {
    await client.ok("unsubscribe", { channel });
    return "ok";
  }
  return (reply["error"] as { code: number }).code;
}

const unique = (prefix: string): string => `${prefix}-${++channelSeq}`;

describe("subscribe permissions by namespace mode", () => {
  it.each([
    ["open", "anonymous", "ok"],
    ["open", "bob", "ok"],
    ["members", "anonymous", ErrorCode.unauthorized],
    ["members", "bob", "ok"],
    ["members", "alice", "ok"],
  ] as const)("%s: %s → %s", async (namespace, who, expected) => {
    expect(await subscribe(who, unique(`${namespace}:room`))).toBe(expected);
  });

  it.each([
    ["vip:gold", "alice", "ok"],
    ["vip:team-red", "alice", "ok"],
    ["vip:team-blue:deep", "alice", "ok"],
    ["vip:silver", "alice", ErrorCode.unauthorized],
    ["vip:team", "alice", ErrorCode.unauthorized],
    ["vip:gold", "bob", ErrorCode.unauthorized],
    ["vip:gold", "anonymous", ErrorCode.unauthorized],
  ] as const)("listed: %s for %s → %s", async (channel, who, expected) => {
    expect(await subscribe(who, channel)).toBe(expected);
  });

  it("listed: the refusal says which claim is missing the channel", async () => {
    const error = await clients.get("bob")?.fails("subscribe", { channel: "vip:gold" });
    expect(error).toMatchObject({
      code: ErrorCode.unauthorized,
      message: 'the connection\'s token does not list "vip:gold" in its "channels" claim',
    });
  });

  it.each([
    ["a valid channel token", "alice", { sub: "alice" }, {}, "ok"],
    ["a channel token minted for anonymous", "anonymous", { sub: "" }, {}, "ok"],
    ["no channel token", "alice", undefined, {}, ErrorCode.unauthorized],
    ["a token for another channel", "alice", { sub: "alice", channel: "private:other" }, {}, ErrorCode.unauthorized],
    ["a token for another user", "bob", { sub: "alice" }, {}, ErrorCode.unauthorized],
    ["a user's token on an anonymous connection", "anonymous", { sub: "alice" }, {}, ErrorCode.unauthorized],
    ["an anonymous token on a user's connection", "alice", { sub: "" }, {}, ErrorCode.unauthorized],
    ["an expired channel token", "alice", { sub: "alice" }, { ttlSeconds: -10 }, ErrorCode.tokenExpired],
    ["a channel token without exp", "alice", { sub: "alice" }, { ttlSeconds: null }, ErrorCode.unauthorized],
    ["a channel token without channel", "alice", { sub: "alice", channel: undefined }, {}, ErrorCode.unauthorized],
    [
      "a channel token with a bad signature",
      "alice",
      { sub: "alice" },
      { key: "a-different-secret-of-at-least-32-chars" },
      ErrorCode.unauthorized,
    ],
    [
      "a connection token instead",
      "alice",
      { sub: "alice", channel: undefined, channels: ["private:*"] },
      {},
      ErrorCode.unauthorized,
    ],
  ] as const)("token: %s (%s) → %s", async (_what, who, claims, signOptions, expected) => {
    const channel = unique("private:room");
    const token = claims === undefined ? undefined : await sign({ channel, ...claims }, signOptions);
    expect(await subscribe(who, channel, token)).toBe(expected);
  });

  it("token: refusals say why", async () => {
    const alice = clients.get("alice");
    const channel = unique("private:room");
    expect(await alice?.fails("subscribe", { channel })).toMatchObject({
      message: `subscribing to "${channel}" needs a channel token (field "token")`,
    });
    const other = await sign({ sub: "alice", channel: "private:other" });
    expect(await alice?.fails("subscribe", { channel, token: other })).toMatchObject({
      message: `the channel token is for "private:other", not "${channel}"`,
    });
    const expired = await sign({ sub: "alice", channel }, { ttlSeconds: -10 });
    expect(await alice?.fails("subscribe", { channel, token: expired })).toMatchObject({
      code: ErrorCode.tokenExpired,
      message: "channel token has expired",
      temporary: false,
    });
  });

  it("ignores a channel token in namespaces that do not ask for one", async () => {
    expect(await subscribe("anonymous", unique("open:room"), "garbage")).toBe("ok");
  });

  it("keeps allowPublish, allowPresence and allowHistory as they were (103 / 108)", async () => {
    const bob = clients.get("bob");
    expect(await bob?.fails("publish", { channel: "members:x", data: 1 })).toMatchObject({
      code: ErrorCode.permissionDenied,
    });
    expect(await bob?.fails("presence", { channel: "members:x" })).toMatchObject({ code: ErrorCode.notAvailable });
    expect(await bob?.fails("history", { channel: "members:x" })).toMatchObject({ code: ErrorCode.notAvailable });
  });
});
