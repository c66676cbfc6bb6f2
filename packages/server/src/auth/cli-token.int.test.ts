import { decodeProtectedHeader, jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import { ServerProcess, runCli } from "../../../../test/support/processes.js";
import { RawClient } from "../../../../test/support/raw-client.js";
import { TEST_SECRET } from "../../../../test/support/tokens.js";
import { TOKEN_TYPES } from "./tokens.js";

// Runs the built CLI: `npm run build` first.

const key = new TextEncoder().encode(TEST_SECRET);

describe("hubcast token", () => {
  it("prints an HS256 connection token with sub, exp, channels and info", async () => {
    const { code, stdout, stderr } = await runCli([
      "token",
      "--sub",
      "alice",
      "--secret",
      TEST_SECRET,
      "--ttl",
      "600",
      "--channels",
      "vip:gold, team:a-*",
      "--info",
      '{"name":"Alice"}',
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const token = stdout.trim();
    expect(stdout).toBe(`${token}\n`);
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: TOKEN_TYPES.connection });
    const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"], typ: TOKEN_TYPES.connection });
    expect(payload).toMatchObject({ sub: "alice", channels: ["vip:gold", "team:a-*"], info: { name: "Alice" } });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
  });

  it("mints a channel token with --channel, reading the secret from HUBCAST_TOKEN_HMAC_SECRET", async () => {
    const { code, stdout } = await runCli(["token", "--sub", "", "--channel", "private:x", "--audience", "hubcast"], {
      HUBCAST_TOKEN_HMAC_SECRET: TEST_SECRET,
    });
    expect(code).toBe(0);
    const { payload } = await jwtVerify(stdout.trim(), key, { audience: "hubcast", typ: TOKEN_TYPES.channel });
    expect(payload).toMatchObject({ sub: "", channel: "private:x" });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
  });

  it("shows help", async () => {
    const { code, stdout } = await runCli(["token", "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: hubcast token --sub <user>/);
    expect((await runCli(["help", "token"])).stdout).toBe(stdout);
    expect((await runCli(["--help"])).stdout).toMatch(/token {7}print a signed HS256/);
  });

  it.each([
    [["--sub", "alice"], /give the HS256 secret with --secret or HUBCAST_TOKEN_HMAC_SECRET/],
    [["--sub", "alice", "--secret", "short"], /at least 32 characters/],
    [["--secret", TEST_SECRET], /--sub <user> is required/],
    [["--sub", "", "--secret", TEST_SECRET], /--sub must not be empty for a connection token/],
    [["--sub", "alice", "--secret", TEST_SECRET, "--ttl", "1.5"], /--ttl must be a whole number of seconds/],
    [["--sub", "alice", "--secret", TEST_SECRET, "--info", "{name}"], /--info must be JSON/],
    [
      ["--sub", "alice", "--secret", TEST_SECRET, "--channel", "p:x", "--channels", "a"],
      /--channels and --info belong in connection tokens/,
    ],
    [
      ["--sub", "alice", "--secret", TEST_SECRET, "--channels", "a*b"],
      /--channels: "a\*b" is not a channel name or a prefix/,
    ],
    [["--sub", "alice", "--secret", TEST_SECRET, "--bogus"], /unknown option '--bogus'/],
  ])("exits 2 with a clear message for %j", async (args, message) => {
    const { code, stdout, stderr } = await runCli(["token", ...args], { HUBCAST_TOKEN_HMAC_SECRET: "" });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/Run 'hubcast token --help' for usage\./);
  });
});

describe("hubcast token against hubcast start --token-hmac-secret", () => {
  let server: ServerProcess | undefined;
  let client: RawClient | undefined;
  afterEach(async () => {
    await client?.close();
    await server?.stop();
    client = undefined;
    server = undefined;
  });

  it("mints tokens the node accepts, and the node refuses anonymous connections when told to", async () => {
    server = await ServerProcess.start([
      "--port",
      "0",
      "--no-demo",
      "--token-hmac-secret",
      TEST_SECRET,
      "--no-allow-anonymous",
    ]);
    const { stdout } = await runCli(["token", "--sub", "alice", "--secret", TEST_SECRET, "--ttl", "120"]);
    client = await RawClient.open(server.wsUrl);
    expect(await client.fails("connect", {})).toMatchObject({ code: ErrorCode.unauthorized });
    const result = await client.ok<{ expiresAt: number }>("connect", { token: stdout.trim() });
    expect(result.expiresAt).toBeGreaterThan(Date.now() + 100_000);
    expect(JSON.stringify(server.logs)).not.toContain(stdout.trim().split(".")[2]);
  });
});
