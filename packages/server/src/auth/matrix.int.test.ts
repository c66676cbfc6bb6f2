import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import { TestCluster } from "../../../../test/support/nodes.js";
import type { RawClient } from "../../../../test/support/raw-client.js";
import { TEST_SECRET, sign } from "../../../../test/support/tokens.js";
import type { ChannelOptions } from "../channels.js";

// The authorization matrix: every operation × namespace rule × credential. The expected
// outcome of each cell comes from the hand-written tables below (what docs/security.md
// promises), never from the code under test.

const API_KEY = "matrix-api-key-0123456789";

/** A namespace's options, and by hand what they mean for clients. */
interface NamespaceSpec {
  options: ChannelOptions;
  subscribe: SubscribeRule;
  /** Who may publish; `false` = no client. */
  publish: false | "anyone" | "authenticated" | "listed" | "subscribers";
  /** History and presence: `off` (108), `false` (103), `true` (live subscribers). */
  history: "off" | boolean;
  presence: "off" | boolean;
}

type SubscribeRule = "anyone" | "authenticated" | "listed" | "token";
const FEATURES = { historySize: 10, presence: true } as const;

const NAMESPACES = {
  open: {
    options: { ...FEATURES, allowPublish: true },
    subscribe: "anyone",
    publish: "anyone",
    history: true,
    presence: true,
  },
  members: {
    options: { ...FEATURES, allowPublish: true, subscribe: "authenticated" },
    subscribe: "authenticated",
    publish: "authenticated",
    history: true,
    presence: true,
  },
  vip: {
    options: { ...FEATURES, allowPublish: true, subscribe: "listed" },
    subscribe: "listed",
    publish: "listed",
    history: true,
    presence: true,
  },
  private: {
    options: { ...FEATURES, allowPublish: true, subscribe: "token" },
    subscribe: "token",
    publish: "subscribers",
    history: true,
    presence: true,
  },
  closed: {
    options: { ...FEATURES, allowHistory: false, allowPresence: false },
    subscribe: "anyone",
    publish: false,
    history: false,
    presence: false,
  },
  closedToken: {
    options: { ...FEATURES, subscribe: "token", allowHistory: false, allowPresence: false },
    subscribe: "token",
    publish: false,
    history: false,
    presence: false,
  },
  off: { options: { allowPublish: true }, subscribe: "anyone", publish: "anyone", history: "off", presence: "off" },
  tokenAnyone: {
    options: { ...FEATURES, allowPublish: true, subscribe: "token", publish: "anyone" },
    subscribe: "token",
    publish: "anyone",
    history: true,
    presence: true,
  },
  openSubscribers: {
    options: { ...FEATURES, allowPublish: true, publish: "subscribers" },
    subscribe: "anyone",
    publish: "subscribers",
    history: true,
    presence: true,
  },
  vipAuthenticated: {
    options: { ...FEATURES, allowPublish: true, subscribe: "listed", publish: "authenticated" },
    subscribe: "listed",
    publish: "authenticated",
    history: true,
    presence: true,
  },
  membersListed: {
    options: { ...FEATURES, allowPublish: true, subscribe: "authenticated", publish: "listed" },
    subscribe: "authenticated",
    publish: "listed",
    history: true,
    presence: true,
  },
} as const satisfies Record<string, NamespaceSpec>;
type Namespace = keyof typeof NAMESPACES;

/** Alice's connection token lists every channel of the namespaces that read a `channels` claim. */
const ALICE_LISTS = ["vip:*", "vipAuthenticated:*", "membersListed:*"];

type Who = "anonymous" | "alice" | "bob";
/** What the client shows at subscribe, besides its connection. */
type ChannelTokenKind = "none" | "right" | "forAlice" | "otherChannel" | "expired" | "connectionToken";

/** A credential: the connection it rides on, and the channel token it presents. */
interface CredentialSpec {
  who: Who;
  token: ChannelTokenKind;
}

const CREDENTIALS = {
  anonymous: { who: "anonymous", token: "none" },
  connectionToken: { who: "alice", token: "none" },
  channelToken: { who: "alice", token: "right" },
  wrongUser: { who: "bob", token: "forAlice" },
  otherChannel: { who: "alice", token: "otherChannel" },
  expiredChannelToken: { who: "alice", token: "expired" },
  connectionAsChannelToken: { who: "alice", token: "connectionToken" },
} as const satisfies Record<string, CredentialSpec>;
type Credential = keyof typeof CREDENTIALS;
const CREDENTIAL_NAMES = Object.keys(CREDENTIALS) as Credential[];

type Outcome = "ok" | number;
const { unauthorized, permissionDenied, notAvailable, tokenExpired } = ErrorCode;

/** Who may subscribe, written out cell by cell from docs/security.md's `subscribe` table. */
const SUBSCRIBE: Record<SubscribeRule, Record<Credential, Outcome>> = {
  anyone: {
    anonymous: "ok",
    connectionToken: "ok",
    channelToken: "ok",
    wrongUser: "ok",
    otherChannel: "ok",
    expiredChannelToken: "ok",
    connectionAsChannelToken: "ok",
  },
  authenticated: {
    anonymous: unauthorized,
    connectionToken: "ok",
    channelToken: "ok",
    wrongUser: "ok",
    otherChannel: "ok",
    expiredChannelToken: "ok",
    connectionAsChannelToken: "ok",
  },
  listed: {
    anonymous: unauthorized,
    connectionToken: "ok",
    channelToken: "ok",
    wrongUser: unauthorized,
    otherChannel: "ok",
    expiredChannelToken: "ok",
    connectionAsChannelToken: "ok",
  },
  token: {
    anonymous: unauthorized,
    connectionToken: unauthorized,
    channelToken: "ok",
    wrongUser: unauthorized,
    otherChannel: unauthorized,
    expiredChannelToken: tokenExpired,
    connectionAsChannelToken: unauthorized,
  },
};

const isAuthenticated = (c: Credential): boolean => CREDENTIALS[c].who !== "anonymous";
const isListed = (c: Credential): boolean => CREDENTIALS[c].who === "alice";

/** Does the client hold a live subscription after (maybe) trying to subscribe first? */
const holds = (ns: Namespace, c: Credential, subscribedFirst: boolean): boolean =>
  subscribedFirst && SUBSCRIBE[NAMESPACES[ns].subscribe][c] === "ok";

function expectedPublish(ns: Namespace, c: Credential, subscribedFirst: boolean): Outcome {
  const rule = NAMESPACES[ns].publish;
  if (rule === false) return permissionDenied;
  if (rule === "anyone") return "ok";
  if (rule === "authenticated") return isAuthenticated(c) ? "ok" : permissionDenied;
  if (rule === "listed") return isListed(c) ? "ok" : permissionDenied;
  return holds(ns, c, subscribedFirst) ? "ok" : permissionDenied;
}

function expectedRead(rule: "off" | boolean, ns: Namespace, c: Credential, subscribedFirst: boolean): Outcome {
  if (rule === "off") return notAvailable;
  if (!rule) return permissionDenied;
  return holds(ns, c, subscribedFirst) ? "ok" : permissionDenied;
}

/** A subscribe with `since`: refused as subscribe is, else it recovers only where history may be read. */
function expectedRecovery(ns: Namespace, c: Credential): Outcome | "recovered" | "not recovered" {
  const subscribe = SUBSCRIBE[NAMESPACES[ns].subscribe][c];
  if (subscribe !== "ok") return subscribe;
  return NAMESPACES[ns].history === true ? "recovered" : "not recovered";
}

const cluster = new TestCluster();
const clients = new Map<Who, RawClient>();
let apiBase = "";
let wsUrl = "";
let channelSeq = 0;

beforeAll(async () => {
  const namespaces = Object.fromEntries(Object.entries(NAMESPACES).map(([name, spec]) => [name, spec.options]));
  // Hundreds of commands per connection: the command rate limit would refuse them.
  ({ wsUrl } = await cluster.node({
    namespaces,
    tokenHmacSecret: TEST_SECRET,
    apiKey: API_KEY,
    commandRatePerSecond: 0,
  }));
  apiBase = `http://${new URL(wsUrl).host}`;
  const tokens: Record<Who, string | undefined> = {
    anonymous: undefined,
    alice: await sign({ sub: "alice", channels: ALICE_LISTS }),
    bob: await sign({ sub: "bob" }),
  };
  for (const [who, token] of Object.entries(tokens) as [Who, string | undefined][]) {
    const client = await cluster.client(wsUrl, false);
    await client.ok("connect", token === undefined ? {} : { token });
    clients.set(who, client);
  }
});
afterAll(() => cluster.cleanup());

async function channelToken(kind: ChannelTokenKind, channel: string): Promise<string | undefined> {
  switch (kind) {
    case "none":
      return undefined;
    case "right":
    case "forAlice":
      return sign({ sub: "alice", channel });
    case "otherChannel":
      return sign({ sub: "alice", channel: `${channel}-other` });
    case "expired":
      return sign({ sub: "alice", channel }, { ttlSeconds: -10 });
    case "connectionToken":
      return sign({ sub: "alice", channels: [channel] });
  }
}

const outcome = (reply: Record<string, unknown>): Outcome =>
  reply["error"] === undefined ? "ok" : (reply["error"] as { code: number }).code;

/** One cell: a fresh channel, so no cell sees another's subscription; unsubscribed after. */
async function cell<T>(
  ns: Namespace,
  c: Credential,
  run: (client: RawClient, channel: string, token: string | undefined) => Promise<T>,
): Promise<T> {
  const client = clients.get(CREDENTIALS[c].who);
  if (client === undefined) throw new Error(`no client for ${c}`);
  const channel = `${ns}:m${++channelSeq}`;
  const token = await channelToken(CREDENTIALS[c].token, channel);
  try {
    return await run(client, channel, token);
  } finally {
    await client.ok("unsubscribe", { channel });
  }
}

const subscribeRequest = (channel: string, token: string | undefined): Record<string, unknown> =>
  token === undefined ? { channel } : { channel, token };

async function api(
  method: "GET" | "POST",
  path: string,
  body: Record<string, unknown>,
  key = API_KEY,
): Promise<number> {
  const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
  if (method === "GET") {
    const query = new URLSearchParams(body as Record<string, string>).toString();
    const res = await fetch(`${apiBase}${path}?${query}`, { headers });
    await res.arrayBuffer();
    return res.status;
  }
  headers["Content-Type"] = "application/json";
  const res = await fetch(`${apiBase}${path}`, { method, headers, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** Runs `cellOf` for every credential and returns the outcomes by credential, for one whole-row comparison. */
async function row<T>(cellOf: (c: Credential) => Promise<T>): Promise<Record<Credential, T>> {
  const out: Partial<Record<Credential, T>> = {};
  for (const c of CREDENTIAL_NAMES) out[c] = await cellOf(c);
  return out as Record<Credential, T>;
}
const expectedRow = <T>(of: (c: Credential) => T): Record<Credential, T> =>
  Object.fromEntries(CREDENTIAL_NAMES.map((c) => [c, of(c)])) as Record<Credential, T>;

const NAMESPACE_NAMES = Object.keys(NAMESPACES) as Namespace[];

describe("authorization matrix over WebSocket", () => {
  it.each(NAMESPACE_NAMES)("subscribe in %s", async (ns) => {
    const actual = await row((c) =>
      cell(ns, c, async (client, channel, token) =>
        outcome(await client.command("subscribe", subscribeRequest(channel, token))),
      ),
    );
    expect(actual).toEqual(expectedRow((c) => SUBSCRIBE[NAMESPACES[ns].subscribe][c]));
  });

  it.each(NAMESPACE_NAMES)("recovery (subscribe with since) in %s", async (ns) => {
    const actual = await row((c) =>
      cell(ns, c, async (client, channel, token) => {
        // The server API publishes as the server whatever the rules; it returns a position when history is on.
        const res = await fetch(`${apiBase}/api/publish`, {
          method: "POST",
          headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
          body: JSON.stringify({ channel, data: "kept" }),
        });
        const { position } = (await res.json()) as { position?: { offset: number; epoch: string } };
        const since =
          position === undefined
            ? { offset: 0, epoch: "none" }
            : { offset: position.offset - 1, epoch: position.epoch };
        const reply = await client.command("subscribe", { ...subscribeRequest(channel, token), since });
        if (reply["error"] !== undefined) return outcome(reply);
        const result = reply["subscribe"] as { recovered?: boolean; publications?: unknown[] };
        if (result.recovered === true && result.publications?.length === 1) return "recovered";
        return result.recovered === false && result.publications?.length === 0
          ? "not recovered"
          : `odd: ${JSON.stringify(result)}`;
      }),
    );
    expect(actual).toEqual(expectedRow((c) => expectedRecovery(ns, c)));
  });

  const READS = [
    ["publish", (ns: Namespace, c: Credential, first: boolean) => expectedPublish(ns, c, first)],
    ["history", (ns: Namespace, c: Credential, first: boolean) => expectedRead(NAMESPACES[ns].history, ns, c, first)],
    ["presence", (ns: Namespace, c: Credential, first: boolean) => expectedRead(NAMESPACES[ns].presence, ns, c, first)],
    [
      "presence_stats",
      (ns: Namespace, c: Credential, first: boolean) => expectedRead(NAMESPACES[ns].presence, ns, c, first),
    ],
  ] as const;
  const cases = READS.flatMap(([op, expected]) =>
    [true, false].flatMap((first) =>
      NAMESPACE_NAMES.map(
        (ns) => [op, first ? "after subscribing" : "without subscribing", ns, first, expected] as const,
      ),
    ),
  );

  it.each(cases)("%s %s in %s", async (op, _label, ns, first, expected) => {
    const actual = await row((c) =>
      cell(ns, c, async (client, channel, token) => {
        if (first) await client.command("subscribe", subscribeRequest(channel, token));
        return outcome(await client.command(op, op === "publish" ? { channel, data: { n: 1 } } : { channel }));
      }),
    );
    expect(actual).toEqual(expectedRow((c) => expected(ns, c, first)));
  });
});

describe("authorization matrix at connect", () => {
  const CONNECT = [
    ["no token (anonymous)", undefined, {}, "ok"],
    ["a connection token", { sub: "alice" }, {}, "ok"],
    ["an untyped connection token (minted before typed tokens)", { sub: "alice" }, { typ: null }, "ok"],
    ["a channel token", { sub: "alice", channel: "private:x" }, {}, unauthorized],
    ["an untyped channel token", { sub: "alice", channel: "private:x" }, { typ: null }, unauthorized],
    ["a connection token typed as a channel token", { sub: "alice" }, { typ: "hubcast-channel+jwt" }, unauthorized],
    ["an expired connection token", { sub: "alice" }, { ttlSeconds: -10 }, tokenExpired],
    [
      "a connection token with a bad signature",
      { sub: "alice" },
      { key: "another-secret-of-at-least-32-characters" },
      unauthorized,
    ],
  ] as const;

  it.each(CONNECT)("%s → %s", async (_what, claims, options, expected) => {
    const client = await cluster.client(wsUrl, false);
    const token = claims === undefined ? undefined : await sign(claims, options);
    expect(outcome(await client.command("connect", token === undefined ? {} : { token }))).toBe(expected);
  });

  it("with tokenAllowUntyped: false, untyped tokens are refused and typed ones accepted", async () => {
    const strict = await cluster.node({
      namespaces: { private: { subscribe: "token" } },
      tokenHmacSecret: TEST_SECRET,
      tokenAllowUntyped: false,
    });
    const cells = {
      typedConnect: ["connect", await sign({ sub: "alice" })],
      untypedConnect: ["connect", await sign({ sub: "alice" }, { typ: null })],
    } as const;
    const actual: Record<string, Outcome> = {};
    for (const [name, [method, token]] of Object.entries(cells)) {
      const client = await cluster.client(strict.wsUrl, false);
      actual[name] = outcome(await client.command(method, { token }));
    }
    const alice = await cluster.client(strict.wsUrl, false);
    await alice.ok("connect", { token: await sign({ sub: "alice" }) });
    actual["typedChannel"] = outcome(
      await alice.command("subscribe", {
        channel: "private:a",
        token: await sign({ sub: "alice", channel: "private:a" }),
      }),
    );
    actual["untypedChannel"] = outcome(
      await alice.command("subscribe", {
        channel: "private:b",
        token: await sign({ sub: "alice", channel: "private:b" }, { typ: null }),
      }),
    );
    expect(actual).toEqual({
      typedConnect: "ok",
      untypedConnect: unauthorized,
      typedChannel: "ok",
      untypedChannel: unauthorized,
    });
  });
});

describe("authorization matrix through the server API (publishes and reads as the server)", () => {
  const apiExpected = (rule: "off" | boolean): number => (rule === "off" ? 400 : 200);

  it.each(NAMESPACE_NAMES)("API key in %s: publish, history, presence", async (ns) => {
    const channel = `${ns}:api${++channelSeq}`;
    const actual = {
      publish: await api("POST", "/api/publish", { channel, data: "from the server" }),
      history: await api("GET", "/api/history", { channel }),
      presence: await api("GET", "/api/presence", { channel }),
      publishWithoutKey: await api("POST", "/api/publish", { channel, data: "x" }, "not-the-key-0123456789"),
    };
    const spec = NAMESPACES[ns];
    expect(actual).toEqual({
      publish: 200,
      history: apiExpected(spec.history),
      presence: apiExpected(spec.presence),
      publishWithoutKey: 401,
    });
  });
});
