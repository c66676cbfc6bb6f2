import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { exportJWK, exportSPKI, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import { TestCluster } from "../../../../test/support/nodes.js";
import { TEST_SECRET, nowSeconds, sign, unsigned } from "../../../../test/support/tokens.js";
import type { NodeOptions } from "../options.js";

const NAMESPACES: NodeOptions["namespaces"] = { room: { presence: true, allowPublish: true } };

const cluster = new TestCluster();
afterEach(() => cluster.cleanup());

/** A node with these options, and a function that opens a socket and sends `connect` with `token`. */
async function nodeWith(
  options: NodeOptions,
): Promise<{ connect: (token?: string) => Promise<Record<string, unknown>> }> {
  const { wsUrl } = await cluster.node({ namespaces: NAMESPACES, ...options });
  return {
    connect: async (token?: string) => {
      const client = await cluster.client(wsUrl, false);
      return client.command("connect", token === undefined ? {} : { token });
    },
  };
}

const errorOf = (reply: Record<string, unknown>): { code: number; message: string; temporary: boolean } =>
  reply["error"] as { code: number; message: string; temporary: boolean };

describe("connect with HS256 connection tokens", () => {
  it("accepts a valid token: user and info from the claims, expiresAt from exp", async () => {
    const { wsUrl } = await cluster.node({ namespaces: NAMESPACES, tokenHmacSecret: TEST_SECRET });
    const exp = nowSeconds() + 600;
    const token = await sign({ sub: "alice", exp, info: { name: "Alice" } }, { ttlSeconds: null });
    const alice = await cluster.client(wsUrl, false);
    const result = await alice.ok<{ client: string; expiresAt: number }>("connect", { token });
    expect(result.expiresAt).toBe(exp * 1000);
    await alice.ok("subscribe", { channel: "room:1" });
    await alice.ok("publish", { channel: "room:1", data: "hi" });
    const [pub] = await alice.waitForPushes<{ info: unknown }>("publication", 1, "room:1");
    expect(pub?.info).toEqual({ client: result.client, user: "alice", info: { name: "Alice" } });
    const presence = await alice.ok<{ clients: Record<string, unknown> }>("presence", { channel: "room:1" });
    expect(presence.clients[result.client]).toEqual({ client: result.client, user: "alice", info: { name: "Alice" } });
  });

  it.each([
    [
      "expired",
      () => sign({ sub: "alice" }, { ttlSeconds: -10 }),
      ErrorCode.tokenExpired,
      /connection token has expired/,
    ],
    [
      "signed with another secret",
      () => sign({ sub: "alice" }, { key: "another-secret-that-is-also-32-chars-long" }),
      ErrorCode.unauthorized,
      /signature is invalid/,
    ],
    [
      "alg none",
      () => Promise.resolve(unsigned({ sub: "alice" })),
      ErrorCode.unauthorized,
      /algorithm "none" is not accepted; this node accepts HS256/,
    ],
    ["without sub", () => sign({ name: "alice" }), ErrorCode.unauthorized, /no "sub" claim/],
    ["with an empty sub", () => sign({ sub: "" }), ErrorCode.unauthorized, /no "sub" claim/],
    ["without exp", () => sign({ sub: "alice" }, { ttlSeconds: null }), ErrorCode.unauthorized, /no "exp" claim/],
    [
      "with channels that are not strings",
      () => sign({ sub: "alice", channels: [1] }),
      ErrorCode.unauthorized,
      /"channels" must be an array of strings/,
    ],
    ["that is not a JWT", () => Promise.resolve("not-a-jwt"), ErrorCode.unauthorized, /malformed/],
  ])("refuses a token %s with the right code and a message saying why", async (_what, make, code, message) => {
    const node = await nodeWith({ tokenHmacSecret: TEST_SECRET });
    const token = await make();
    const error = errorOf(await node.connect(token));
    expect(error).toMatchObject({ code, temporary: false });
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(token);
  });

  it("keeps a refused connection open, so connect may be retried with another token", async () => {
    const { wsUrl } = await cluster.node({ namespaces: NAMESPACES, tokenHmacSecret: TEST_SECRET });
    const client = await cluster.client(wsUrl, false);
    expect(await client.fails("connect", { token: await sign({ sub: "alice" }, { ttlSeconds: -1 }) })).toMatchObject({
      code: ErrorCode.tokenExpired,
    });
    await client.ok("connect", { token: await sign({ sub: "alice" }) });
  });

  it("checks aud and iss when configured", async () => {
    const node = await nodeWith({
      tokenHmacSecret: TEST_SECRET,
      tokenAudience: "hubcast",
      tokenIssuer: "https://auth.example.com",
    });
    const good = { sub: "alice", aud: "hubcast", iss: "https://auth.example.com" };
    expect((await node.connect(await sign(good)))["connect"]).toBeDefined();
    const wrongAud = errorOf(await node.connect(await sign({ ...good, aud: "other" })));
    expect(wrongAud).toMatchObject({
      code: ErrorCode.unauthorized,
      message: 'connection token audience ("aud") is not "hubcast"',
    });
    const noAud = errorOf(await node.connect(await sign({ sub: "alice", iss: good.iss })));
    expect(noAud.code).toBe(ErrorCode.unauthorized);
    const wrongIss = errorOf(await node.connect(await sign({ ...good, iss: "https://evil.example.com" })));
    expect(wrongIss).toMatchObject({
      code: ErrorCode.unauthorized,
      message: 'connection token issuer ("iss") is not "https://auth.example.com"',
    });
  });

  it("accepts connections without a token as anonymous by default, and refuses them with allowAnonymous false", async () => {
    const open = await nodeWith({ tokenHmacSecret: TEST_SECRET });
    const anonymous = (await open.connect())["connect"] as Record<string, unknown>;
    expect(anonymous).toBeDefined();
    expect(anonymous["expiresAt"]).toBeUndefined();
    const closed = await nodeWith({ tokenHmacSecret: TEST_SECRET, allowAnonymous: false });
    expect(errorOf(await closed.connect())).toMatchObject({
      code: ErrorCode.unauthorized,
      message: expect.stringMatching(/token is required/) as unknown,
    });
    expect((await closed.connect(await sign({ sub: "alice" })))["connect"]).toBeDefined();
  });

  it("lets the authenticate hook win over the token keys", async () => {
    const { wsUrl } = await cluster.node(
      { namespaces: NAMESPACES, tokenHmacSecret: TEST_SECRET },
      { authenticate: ({ token }) => Promise.resolve(token === "let-me-in" ? { user: "hooked" } : null) },
    );
    const client = await cluster.client(wsUrl, false);
    expect(await client.fails("connect", { token: await sign({ sub: "alice" }) })).toMatchObject({
      code: ErrorCode.unauthorized,
      message: "credentials refused",
    });
    await client.ok("connect", { token: "let-me-in" });
  });

  it("never logs tokens, accepted or refused", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ level: "trace" }, stream);
    const { wsUrl } = await cluster.node({ namespaces: NAMESPACES, tokenHmacSecret: TEST_SECRET }, { logger });
    const good = await sign({ sub: "alice" });
    const bad = await sign({ sub: "alice" }, { ttlSeconds: -5 });
    const client = await cluster.client(wsUrl, false);
    await client.fails("connect", { token: bad });
    await client.ok("connect", { token: good });
    await client.ok("refresh", { token: good });
    expect(lines.length).toBeGreaterThan(0);
    for (const token of [good, bad]) expect(lines.join("")).not.toContain(token.split(".")[2]);
  });
});

describe("connect with RS256 tokens and a PEM public key file", () => {
  let dir: string;
  let pemFile: string;
  let pem: string;
  let privateKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair("RS256", { extractable: true });
    privateKey = pair.privateKey;
    pem = await exportSPKI(pair.publicKey);
    dir = await mkdtemp(join(tmpdir(), "hubcast-auth-"));
    pemFile = join(dir, "public.pem");
    await writeFile(pemFile, pem);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("accepts RS256 tokens signed with the private key", async () => {
    const node = await nodeWith({ tokenPublicKeyFile: pemFile });
    const reply = await node.connect(await sign({ sub: "alice" }, { alg: "RS256", key: privateKey }));
    expect(reply["connect"]).toBeDefined();
  });

  it("refuses HS256 tokens, also one 'signed' with the public key as the secret (algorithm confusion), and alg none", async () => {
    const node = await nodeWith({ tokenPublicKeyFile: pemFile });
    for (const token of [
      await sign({ sub: "alice" }, { key: pem }),
      await sign({ sub: "alice" }),
      unsigned({ sub: "alice" }),
    ]) {
      const error = errorOf(await node.connect(token));
      expect(error).toMatchObject({ code: ErrorCode.unauthorized });
      expect(error.message).toMatch(/algorithm "(HS256|none)" is not accepted; this node accepts RS256$/);
    }
  });

  it("refuses an RS256 token signed with another key", async () => {
    const node = await nodeWith({ tokenPublicKeyFile: pemFile });
    const other = await generateKeyPair("RS256");
    const error = errorOf(await node.connect(await sign({ sub: "alice" }, { alg: "RS256", key: other.privateKey })));
    expect(error).toMatchObject({ code: ErrorCode.unauthorized, message: "connection token signature is invalid" });
  });

  it("accepts both algorithms when both an HMAC secret and a PEM key are configured", async () => {
    const node = await nodeWith({ tokenPublicKeyFile: pemFile, tokenHmacSecret: TEST_SECRET });
    expect(
      (await node.connect(await sign({ sub: "alice" }, { alg: "RS256", key: privateKey })))["connect"],
    ).toBeDefined();
    expect((await node.connect(await sign({ sub: "bob" })))["connect"]).toBeDefined();
    expect(errorOf(await node.connect(await sign({ sub: "eve" }, { key: pem }))).message).toBe(
      "connection token signature is invalid",
    );
  });
});

describe("connect with ES256 tokens and a JWKS URL", () => {
  let jwks: Server;
  let jwksUrl: string;
  let fetches = 0;
  let privateKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    jwks = createServer((_req, res) => {
      fetches += 1;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

  it("verifies tokens with the JWKS, fetched once for many connections", async () => {
    fetches = 0;
    const node = await nodeWith({ tokenJwksUrl: jwksUrl });
    for (const user of ["alice", "bob", "carol"]) {
      const reply = await node.connect(await sign({ sub: user }, { alg: "ES256", key: privateKey, kid: "k1" }));
      expect(reply["connect"], user).toBeDefined();
    }
    const unknownKid = errorOf(
      await node.connect(await sign({ sub: "dave" }, { alg: "ES256", key: privateKey, kid: "k2" })),
    );
    expect(unknownKid).toMatchObject({
      code: ErrorCode.unauthorized,
      message: expect.stringMatching(/no key of the JWKS matches/) as unknown,
    });
    const hs256 = errorOf(await node.connect(await sign({ sub: "eve" })));
    expect(hs256.message).toMatch(/algorithm "HS256" is not accepted; this node accepts RS256, ES256/);
    expect(fetches).toBe(1);
  });

  it("answers a temporary internal error while the JWKS cannot be fetched", async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, "127.0.0.1", resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const node = await nodeWith({ tokenJwksUrl: `http://127.0.0.1:${port}/jwks.json`, logLevel: "silent" });
    const error = errorOf(
      await node.connect(await sign({ sub: "alice" }, { alg: "ES256", key: privateKey, kid: "k1" })),
    );
    expect(error).toMatchObject({ code: ErrorCode.internal, temporary: true });
  });
});
