import { access, constants, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BenchRunError, runBench } from "../coordinator/run.js";
import { PreflightError } from "../coordinator/preflight.js";
import { BenchUsageError, resolveBenchOptions, Scenario } from "../options.js";
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
 * Makes sure the reports can be written into `dir` before a run that may take minutes:
 * creates it when missing; throws a {@link BenchUsageError} naming the problem when it cannot.
 */
export async function prepareOut(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "EEXIST" || code === "ENOTDIR"
        ? "a file is in the way (it must be a directory)"
        : code === "EACCES" || code === "EPERM"
          ? "no permission to write there"
          : (err as Error).message;
    throw new BenchUsageError(`--out ${dir}: cannot write the reports there: ${why}`);
  }
}

/**
 * `hubcast bench <scenario> [options]`: parses, runs, reports. Resolves with the exit code:
 * 0 done, 1 the run failed (target unreachable, nothing connected, a worker failed), 2 misuse
 * (one line on stderr: the problem, a "did you mean" for a mistyped scenario or flag, and the
 * help command that lists the options; no scenario at all prints the help there).
 */
export async function benchCommand(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: BenchIo = defaultIo(),
): Promise<number> {
  // Where a usage error points: the scenario's own help when the scenario is right.
  const helpCommand = (Object.values(Scenario) as string[]).includes(args[0] ?? "")
    ? `hubcast bench ${args[0]} --help`
    : "hubcast bench --help";
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
      if (parsed.misuse === true) {
        io.stderr.write(`${parsed.help}\n`);
        return 2;
      }
      io.stdout(`${parsed.help}\n`);
      return 0;
    }
    const options = resolveBenchOptions(parsed.options);
    if (options.out !== undefined) await prepareOut(options.out);
    process.on("SIGINT", onSignal);
    result = await runBench(options, { progress: io.stderr, signal: abort.signal });
    let written = true;
    if (options.out !== undefined) {
      try {
        const paths = await writeReports(options.out, result);
        io.stderr.write(`hubcast bench: wrote ${paths.json} and ${paths.html}\n`);
      } catch (err) {
        // The run is done: its summary below is not lost to a directory that went away meanwhile.
        io.stderr.write(`hubcast bench: could not write the reports into ${options.out}: ${(err as Error).message}\n`);
        written = false;
      }
    }
    io.stdout(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${textSummary(result)}\n`);
    return (result.interrupted && result.interruptReason !== "interrupted") || !written ? 1 : 0;
  } catch (err) {
    if (err instanceof BenchUsageError) {
      // One line: what is wrong, the fix when there is a likely one, and where the options are listed.
      io.stderr.write(`hubcast bench: ${err.message} (see '${helpCommand}')\n`);
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
