import { writeSync } from "node:fs";
import type { DestinationStream, Logger } from "pino";

/**
 * Where a node run from the command line writes its log lines: straight to file descriptor 1,
 * one synchronous write per line, as pino's own synchronous destination does. The difference
 * is what happens when the write fails (the reading end of a pipe closed, `hubcast start |
 * head -1`, a log shipper that died): the line is dropped and so is every later one, instead
 * of retrying forever, so a node whose stdout is gone still drains and exits on SIGTERM.
 * Losing the logs is the lesser harm.
 */
export class StdoutDestination implements DestinationStream {
  private broken = false;

  constructor(private readonly fd = 1) {}

  write(line: string): void {
    if (this.broken) return;
    try {
      writeSync(this.fd, line);
    } catch {
      this.broken = true;
    }
  }

  /** Whether a write has failed, so log lines are being dropped. */
  get dropping(): boolean {
    return this.broken;
  }
}

/** What {@link guardProcess} reports unhandled rejections to. */
export interface ProcessGuardSinks {
  logger: Logger;
  /** Counts an unexpected error caught at the process level (`hubcast_unexpected_errors_total{where="process"}`). */
  countUnexpected(): void;
}

/**
 * The process-level policy of `hubcast start`, the outermost fault boundary (docs/architecture.md):
 * - an unhandled promise rejection is a bug whose promise had no owner; it is logged at error
 *   level and counted, and the node carries on: no synchronous state was left half-updated,
 *   and every connection, command and request has a boundary of its own.
 * - an uncaught exception may have left state half-updated; it is logged at fatal level and
 *   the process exits 1 (a cluster primary, systemd or the orchestrator restarts it).
 * - a failing stdout or stderr (a closed pipe) never stops the node: its errors are ignored
 *   here, since there is nowhere left to report them, and logs go to {@link StdoutDestination}.
 */
export function guardProcess(sinks: ProcessGuardSinks): void {
  process.on("unhandledRejection", (reason: unknown) => {
    sinks.countUnexpected();
    sinks.logger.error({ err: reason }, "unhandled promise rejection (a bug); the node carries on");
  });
  process.on("uncaughtException", (err: Error) => {
    sinks.logger.fatal({ err }, "uncaught exception (a bug); exiting, state may be inconsistent");
    process.exit(1);
  });
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", ignoreBrokenOutput);
  }
}

/** An EPIPE on stdout or stderr: nobody reads them any more, so there is nothing to tell. */
function ignoreBrokenOutput(): void {}
