import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ServerProcess } from "../../../../test/support/processes.js";
import { RawClient } from "../../../../test/support/raw-client.js";
import { withTimeout } from "../../../../test/support/raw-client.js";

const servers: ServerProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

const GUARDS = fileURLToPath(new URL("../../dist/cli/process-guards.js", import.meta.url));

/** Runs a small ES module that installs the guards, and returns its exit code and output. */
async function runGuarded(body: string): Promise<{ code: number | null; stdout: string }> {
  const source = `
    import { pino } from "pino";
    import { guardProcess, StdoutDestination } from ${JSON.stringify(GUARDS)};
    let counted = 0;
    const logger = pino({ level: "info" }, new StdoutDestination());
    guardProcess({ logger, countUnexpected: () => { counted += 1; } });
    ${body}`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", source], {
    cwd: fileURLToPath(new URL(".", import.meta.url)),
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const code = await withTimeout(
    new Promise<number | null>((resolve) => child.on("close", resolve)),
    10_000,
    "the guarded process to exit",
  );
  return { code, stdout };
}

describe("the process-level fault policy of hubcast start", () => {
  it("logs and counts an unhandled rejection, and carries on", async () => {
    const { code, stdout } = await runGuarded(`
      Promise.reject(new Error("nobody owns this promise"));
      setTimeout(() => { logger.info({ counted }, "still running"); process.exit(0); }, 50);`);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({
      level: 50,
      msg: "unhandled promise rejection (a bug); the node carries on",
      err: { message: "nobody owns this promise" },
    });
    expect(lines[1]).toMatchObject({ msg: "still running", counted: 1 });
  });

  it("logs an uncaught exception at fatal level and exits 1", async () => {
    const { code, stdout } = await runGuarded(`setTimeout(() => { throw new Error("thrown from a timer"); }, 10);`);
    expect(code).toBe(1);
    expect(JSON.parse(stdout.trim())).toMatchObject({ level: 60, err: { message: "thrown from a timer" } });
  });

  it.each([
    ["with no client (the exit follows the failed log write at once)", false],
    ["with a client to drain", true],
  ])("drains and exits 0 on SIGTERM after the reader of its stdout and stderr went away, %s", async (_, withClient) => {
    const server = await ServerProcess.start(["--port", "0", "--drain-window-ms", "200"]);
    servers.push(server);
    const client = withClient ? await RawClient.connected(server.wsUrl) : undefined;
    // As `hubcast start | head -1` after head exits: every later log write fails with EPIPE.
    server.child.stdout?.destroy();
    server.child.stderr?.destroy();
    const exit = server.stop("SIGTERM");
    if (client !== undefined) expect((await client.closed).code).toBe(3000);
    expect(await exit).toBe(0);
  });
});
