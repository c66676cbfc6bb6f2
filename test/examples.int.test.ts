import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./support/nodes.js";
import type { RawClient } from "./support/raw-client.js";

// examples/ run as a user runs them, with Debian's interpreters and tools only (PATH is
// /usr/bin:/bin, so no pyenv or node_modules shims), against a real node; their effects are
// checked through the node itself, not through the examples' own output alone.

const KEY = "examples-api-key-0123456789";
const SECRET = "examples-token-secret-0123456789abcdef";
const EXAMPLES = fileURLToPath(new URL("../examples/", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `argv` from examples/ with `env` (plus PATH=/usr/bin:/bin) and resolves however it exits. */
function run(argv: string[], env: Record<string, string>): Promise<Run> {
  const [file = "", ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: EXAMPLES, env: { PATH: "/usr/bin:/bin", ...env }, timeout: 10_000 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number") reject(new Error(`${argv.join(" ")}: ${err.message}`));
        else resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
  });
}

/** One way of calling the examples: the same three jobs, in a shell with curl or in Python. */
interface Flavour {
  name: string;
  publish(channel: string, json: string): string[];
  history(channel: string, limit: number): string[];
  token(user: string): string[];
  /** The code (and, when `reportsStatus`, the HTTP status) a failed request reports, read from its output. */
  failure(result: Run): { code: string; status: number | undefined };
  reportsStatus: boolean;
}

const FLAVOURS: Flavour[] = [
  {
    name: "curl and sh",
    publish: (channel, json) => ["/bin/sh", "curl/publish.sh", channel, json],
    history: (channel, limit) => ["/bin/sh", "curl/history.sh", channel, String(limit)],
    token: (user) => ["/bin/sh", "curl/connection-token.sh", user],
    // The body as the node sent it; curl's exit status (22) says only that it failed.
    failure: (result) => ({
      code: (JSON.parse(result.stdout) as { error: { code: string } }).error.code,
      status: undefined,
    }),
    reportsStatus: false,
  },
  {
    name: "python3 (standard library)",
    publish: (channel, json) => ["/usr/bin/python3", "python/hubcast_api.py", "publish", channel, json],
    history: (channel, limit) => ["/usr/bin/python3", "python/hubcast_api.py", "history", channel, String(limit)],
    token: (user) => ["/usr/bin/python3", "python/connection_token.py", user],
    failure: (result) => {
      const match = /^hubcast: (\d{3}) ([a-z_]+): /.exec(result.stderr);
      return { code: match?.[2] ?? result.stderr, status: Number(match?.[1]) };
    },
    reportsStatus: true,
  },
];

const cluster = new TestCluster();
let env: Record<string, string>;
let wsUrl: string;
beforeAll(async () => {
  // A default node (only the demo namespace) with the API and HS256 tokens on.
  const started = await cluster.node({ apiKey: KEY, tokenHmacSecret: SECRET, demo: true, namespaces: {} });
  wsUrl = started.wsUrl;
  env = { HUBCAST_URL: started.node.address.url, HUBCAST_API_KEY: KEY, HUBCAST_TOKEN_HMAC_SECRET: SECRET };
});
afterAll(() => cluster.cleanup());

/** A client's `connect` with `token`: the user the node saw (in presence), or the refusal's error code. */
async function connectWith(token: string): Promise<{ user?: string; refused?: number }> {
  const client: RawClient = await cluster.client(wsUrl, false);
  const reply = await client.command("connect", { token });
  const error = reply["error"] as { code: number } | undefined;
  if (error !== undefined) return { refused: error.code };
  const { client: id } = reply["connect"] as { client: string };
  const channel = `demo:who-${id}`;
  await client.ok("subscribe", { channel });
  const { clients } = await client.ok<{ clients: Record<string, { user: string }> }>("presence", { channel });
  return { user: clients[id]?.user };
}

/** `token` with its claims replaced by `claims`, keeping the header and the signature. */
function withClaims(token: string, claims: Record<string, unknown>): string {
  const [header, , signature] = token.split(".");
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
}

describe.each(FLAVOURS)("examples with $name", (flavour) => {
  const channel = `demo:examples-${flavour.name.split(" ")[0]}`;
  const data = { text: `hello from ${flavour.name}`, quote: 'a "quoted" \\ word' };

  it("publish: the message reaches a subscribed client, and the answer has its position", async () => {
    const subscriber = await cluster.client(wsUrl);
    await subscriber.ok("subscribe", { channel });
    const published = await run(flavour.publish(channel, JSON.stringify(data)), env);
    expect(published, published.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(published.stdout)).toEqual({ position: { offset: 1, epoch: expect.any(String) as string } });
    const [pub] = await subscriber.waitForPushes<{ data: unknown; offset: number }>("publication", 1, channel);
    expect(pub).toMatchObject({ data, offset: 1 });
  });

  it("history: prints the published message", async () => {
    const history = await run(flavour.history(channel, 5), env);
    expect(history, history.stderr).toMatchObject({ code: 0 });
    const answer = JSON.parse(history.stdout) as { publications: { data: unknown; offset: number }[]; offset: number };
    expect(answer.publications).toEqual([{ offset: 1, data }]);
    expect(answer.offset).toBe(1);
  });

  it("report the error's status and code from the node's answer", async () => {
    const wrongKey = await run(flavour.publish(channel, "1"), {
      ...env,
      HUBCAST_API_KEY: "wrong-key-0123456789abcdef",
    });
    expect(wrongKey.code).not.toBe(0);
    expect(flavour.failure(wrongKey)).toEqual({
      code: "unauthorized",
      status: flavour.reportsStatus ? 401 : undefined,
    });
    const unknownNamespace = await run(flavour.history("nope:x", 5), env);
    expect(unknownNamespace.code).not.toBe(0);
    expect(flavour.failure(unknownNamespace)).toEqual({
      code: "bad_request",
      status: flavour.reportsStatus ? 400 : undefined,
    });
  });

  it("connection token: accepted by a real connect; a tampered one is refused", async () => {
    const user = `user "${flavour.name.split(" ")[0]}"`;
    const minted = await run(flavour.token(user), env);
    expect(minted, minted.stderr).toMatchObject({ code: 0 });
    const token = minted.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await connectWith(token)).toEqual({ user });

    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<
      string,
      unknown
    >;
    expect(await connectWith(withClaims(token, { ...claims, sub: "mallory" }))).toEqual({ refused: 101 });
    const otherSecret = await run(flavour.token(user), { ...env, HUBCAST_TOKEN_HMAC_SECRET: `${SECRET}-other` });
    expect(await connectWith(otherSecret.stdout.trim())).toEqual({ refused: 101 });
  });
});
