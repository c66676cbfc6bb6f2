import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BenchRunError, runBench } from "../coordinator/run.js";
import { PreflightError } from "../coordinator/preflight.js";
import { BenchUsageError, resolveBenchOptions } from "../options.js";
import { htmlReport, textSummary } from "../report/html.js";
import type { BenchResult } from "../report/result.js";
import { parseBenchArgs } from "./args.js";

/** Where the command writes: the summary or JSON to `stdout`, progress and errors to `stderr`. */
export interface BenchIo {
  stdout: (text: string) => void;
  stderr: { write(text: string): void; readonly isTTY: boolean };
}

const defaultIo = (): BenchIo => ({
  stdout: (text) => void process.stdout.write(text),
  stderr: { write: (text) => void process.stderr.write(text), isTTY: process.stderr.isTTY === true },
});

/** Writes result.json and report.html into `dir` (created when missing); returns their paths. */
export async function writeReports(dir: string, result: BenchResult): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, "result.json");
  const html = join(dir, "report.html");
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(html, htmlReport(result));
  return { json: resolve(json), html: resolve(html) };
}

/**
 * `hubcast bench <scenario> [options]`: parses, runs, reports. Resolves with the exit code:
 * 0 done, 1 the run failed (target unreachable, nothing connected, a worker failed), 2 misuse.
 */
export async function benchCommand(args: readonly string[], env: NodeJS.ProcessEnv = process.env, io: BenchIo = defaultIo()): Promise<number> {
  const scenario = args[0] ?? "<scenario>";
  let result: BenchResult;
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) process.exit(130);
    io.stderr.write("\nhubcast bench: stopping (Ctrl-C again to quit at once)\n");
    abort.abort();
  };
  try {
    const parsed = parseBenchArgs(args, env);
    if ("help" in parsed) {
      io.stdout(`${parsed.help}\n`);
      return 0;
    }
    const options = resolveBenchOptions(parsed.options);
    process.on("SIGINT", onSignal);
    result = await runBench(options, { progress: io.stderr, signal: abort.signal });
    if (options.out !== undefined) {
      const paths = await writeReports(options.out, result);
      io.stderr.write(`hubcast bench: wrote ${paths.json} and ${paths.html}\n`);
    }
    io.stdout(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${textSummary(result)}\n`);
    return result.interrupted && result.interruptReason !== "interrupted" ? 1 : 0;
  } catch (err) {
    if (err instanceof BenchUsageError) {
      io.stderr.write(`hubcast bench: ${err.message}\nRun 'hubcast bench ${scenario} --help' for usage.\n`);
      return 2;
    }
    if (err instanceof PreflightError || err instanceof BenchRunError) {
      io.stderr.write(`hubcast bench: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
  }
}
