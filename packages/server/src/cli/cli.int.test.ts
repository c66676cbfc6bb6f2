import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { ServerProcess, runCli } from "../../../../test/support/processes.js";
import { RawClient } from "../../../../test/support/raw-client.js";
import { NODE_DEFAULTS, NODE_OPTION_KEYS } from "../options.js";
import { flagName, envName } from "./settings.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const servers: ServerProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

/** Runs every command line at once, a few at a time (each is a Node.js start), and resolves with their results in order. */
async function runAll(
  runs: { args: string[]; env?: NodeJS.ProcessEnv }[],
): Promise<Awaited<ReturnType<typeof runCli>>[]> {
  const results: Awaited<ReturnType<typeof runCli>>[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < runs.length; i = next++) {
      const run = runs[i] as { args: string[]; env?: NodeJS.ProcessEnv };
      results[i] = await runCli(run.args, run.env);
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
  return results;
}

function tempConfig(content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "hubcast-")), "hubcast.json");
  writeFileSync(file, content);
  return file;
}

describe("hubcast CLI", () => {
  it("lists every option with its flag, environment variable and default in start --help", async () => {
    const { code, stdout } = await runCli(["start", "--help"]);
    expect(code).toBe(0);
    for (const key of NODE_OPTION_KEYS) {
      if (key === "channel" || key === "namespaces" || key === "pusherApps") continue;
      const line = stdout.split("\n").find((l) => l.trimStart().startsWith("--") && l.includes(`${flagName(key)} `));
      expect(line, key).toBeDefined();
      expect(line).toContain(envName(key));
      const fallback = String(NODE_DEFAULTS[key]);
      expect(line).toContain(fallback === "" ? "(none)" : fallback);
    }
    // The config file's list of Pusher apps takes one more from a flag or its variable.
    expect(stdout).toMatch(/--pusher-app <id:key:secret>\s+HUBCAST_PUSHER_APP/);
    const helps = [
      ["--help"],
      ["help", "start"],
      ["nodes", "--help"],
      ["token", "--help"],
      ["bench", "--help"],
      ["bench", "fanout", "--help"],
      ["bench", "cross-node", "--help"],
    ];
    const shown = await runAll(helps.map((args) => ({ args })));
    expect(shown[0]?.stdout).toMatch(/Commands:[\s\S]*start/);
    expect(shown[1]?.stdout).toContain("--ping-interval-ms");
    // Help fits 100 columns, whatever the command.
    for (const [i, args] of [...helps, ["start", "--help"]].entries()) {
      const text = i < helps.length ? shown[i]?.stdout : stdout;
      expect(text, args.join(" ")).toMatch(/\S/);
      expect(
        (text ?? "").split("\n").filter((line) => line.length > 100),
        args.join(" "),
      ).toEqual([]);
    }
  });

  it("says what is wrong and how to fix it, with exit code 2", async () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [["start", "--port", "eighty"], {}, /--port: expected a whole number, got "eighty"/],
      [["start", "--port", "70000"], {}, /port: must be an integer from 0 to 65535/],
      [["start", "--bogus"], {}, /unknown option '--bogus'/],
      [["start", "--prot", "9000"], {}, /unknown option '--prot'; did you mean --port\?/],
      [["nodes", "--jsn"], {}, /unknown option '--jsn'; did you mean --json\?/],
      [["strat"], {}, /unknown command "strat"; did you mean "start"\?/],
      [[], {}, /Usage: hubcast <command>/],
      [["start"], { HUBCAST_DEMO: "maybe" }, /HUBCAST_DEMO: expected true or false/],
      [
        ["start", "--ping-interval-ms", "1000", "--pong-timeout-ms", "5000"],
        {},
        /pongTimeoutMs: must be less than pingIntervalMs/,
      ],
      [["start", "--config", "/nonexistent/hubcast.json"], {}, /cannot read config file \/nonexistent\/hubcast.json/],
      [["start", "--config", tempConfig("{ port: 1 }")], {}, /is not valid JSON/],
      [
        ["start", "--config", tempConfig('{\n  "port": 8080,\n  "namespaces": {,\n}')],
        {},
        /is not valid JSON: .* at line 3, column 18/,
      ],
      [
        ["start", "--config", tempConfig('{"namespaces":{"chat":null}}')],
        {},
        /namespaces\.chat: must be an object of channel options/,
      ],
      [
        ["start", "--config", tempConfig('{"namespaces":{"chat":5}}')],
        {},
        /namespaces\.chat: must be an object of channel options .*got 5/,
      ],
      [
        ["start", "--config", tempConfig('{"namespaces":{"chat":[]}}')],
        {},
        /namespaces\.chat: must be an object of channel options .*got \[\]/,
      ],
      [["start", "--config", tempConfig('{"prot": 1}')], {}, /prot: unknown option; did you mean "port"\?/],
      [
        ["start", "--config", tempConfig('{"namespaces":{"chat":{"historySize":-5}}}')],
        {},
        /namespaces\.chat\.historySize: must be an integer/,
      ],
      [["launch"], {}, /unknown command "launch"/],
      [["start", "--pusher-app", "1:key"], {}, /--pusher-app \/ HUBCAST_PUSHER_APP: must be id:key:secret/],
      [["start"], { HUBCAST_PUSHER_APP: "1:key:short" }, /pusherApps\[0\]\.secret: must be 8-256 printable/],
      [
        [
          "start",
          "--config",
          tempConfig('{"pusherApps":[{"id":"1","key":"k","secret":"long-enough","namespace":"chat"}]}'),
        ],
        {},
        /pusherApps\[0\]\.namespace: "chat" is not configured in namespaces/,
      ],
    ];
    const results = await runAll(cases.map(([args, env]) => ({ args, env })));
    for (const [i, [args, , message]] of cases.entries()) {
      const { code, stderr } = results[i] as Awaited<ReturnType<typeof runCli>>;
      expect(code, args.join(" ")).toBe(2);
      expect(stderr).toMatch(message);
      if (args.length > 0) expect(stderr).toMatch(/Run 'hubcast/);
      expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 60_000); // about twenty CLI processes, four at a time

  it("starts from flags, environment and a config file, with flags winning", async () => {
    const config = tempConfig(
      JSON.stringify({ port: 1, pingIntervalMs: 30_000, namespaces: { room: { allowPublish: true } } }),
    );
    const server = await ServerProcess.start(["--config", config, "--port", "0"], {
      HUBCAST_PING_INTERVAL_MS: "20000",
      HUBCAST_HOST: "127.0.0.1",
    });
    servers.push(server);
    expect(server.port).toBeGreaterThan(1);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const client = await RawClient.connected(server.wsUrl);
    const connect = client.frames[0]?.["connect"] as { pingIntervalMs: number };
    expect(connect.pingIntervalMs).toBe(20_000); // env over config file
    await client.ok("subscribe", { channel: "room:1" }); // namespace from the config file
    await client.ok("subscribe", { channel: "demo:lobby" }); // built-in demo namespace
    await client.close();
  });

  it("ends its log with a stopped line on SIGTERM and exits 0", async () => {
    const server = await ServerProcess.start(["--port", "0"]);
    expect(await server.stop("SIGTERM")).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the last stdout chunk may follow the exit event
    expect(server.logs.at(-1)).toMatchObject({ msg: "stopped", signal: "SIGTERM", exitCode: 0 });
  });

  it("logs one readable line per event with --log-format pretty", async () => {
    const child = spawn(process.execPath, [CLI, "start", "--port", "0", "--log-format", "pretty"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      await eventually(() => out.includes("\n"), 10_000, "the first log line");
      expect(out.split("\n")[0]).toMatch(
        /^\d\d:\d\d:\d\d\.\d{3} INFO {2}hubcast listening url=http:\/\/127\.0\.0\.1:\d+ engine=memory node=\S+$/,
      );
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("serves the demo page by default and not with --no-demo", async () => {
    const server = await ServerProcess.start(["--port", "0"]);
    servers.push(server);
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<script");
    expect((await fetch(`${server.url}/sdk/hubcast.js`)).status).toBe(200);
    const bare = await ServerProcess.start(["--port", "0", "--no-demo"]);
    servers.push(bare);
    expect((await fetch(`${bare.url}/`)).status).toBe(404);
    expect((await fetch(`${bare.url}/sdk/hubcast.js`)).status).toBe(200);
  });

  it("exits 0 on SIGTERM, closing clients with the shutdown code", async () => {
    const server = await ServerProcess.start(["--port", "0"]);
    servers.push(server);
    const client = await RawClient.connected(server.wsUrl);
    const exit = server.stop("SIGTERM");
    expect((await client.closed).code).toBe(3000);
    expect(await exit).toBe(0);
  });
});
