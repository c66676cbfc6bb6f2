/**
 * What the peer servers share: their flags, the ready line `run.mjs` waits for, and a clean
 * exit on SIGTERM/SIGINT. Flags are parsed here only; the servers take plain values.
 */
import { parseArgs } from "node:util";

/**
 * Parses `--port` (default 0: a free port), `--host` (default 127.0.0.1) and `--redis-url`
 * (undefined when absent), plus the boolean `--help`. Exits 2 on an unknown flag.
 */
export function serverArgs(name, usage) {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        "redis-url": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${name}: ${err.message}\n${usage}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`${name}: --port must be 0–65535, got ${values.port}\n`);
    process.exit(2);
  }
  return { port, host: values.host, redisUrl: values["redis-url"] };
}

/** The line run.mjs waits for: `<name>: ready on port <port> (pid <pid>)`. */
export function announceReady(name, port) {
  process.stdout.write(`${name}: ready on port ${port} (pid ${process.pid})\n`);
}

/** Runs `close` once on SIGTERM or SIGINT, then exits 0 (1 when closing failed, or after 5 s). */
export function exitOnSignal(name, close) {
  let closing = false;
  const onSignal = (signal) => {
    if (closing) return;
    closing = true;
    setTimeout(() => {
      process.stderr.write(`${name}: still closing 5 s after ${signal}; exiting\n`);
      process.exit(1);
    }, 5_000).unref();
    close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`${name}: error while closing: ${err?.stack ?? err}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/** Logs a background error with the server's name and keeps running (a benchmark server must not die silently, nor on one bad socket). */
export function logError(name, what) {
  return (err) => process.stderr.write(`${name}: ${what}: ${err?.message ?? err}\n`);
}
