import type { DestinationStream } from "pino";
import type { ResolvedNodeOptions } from "../options.js";
import { StdoutDestination } from "./process-guards.js";

/** How `hubcast start` writes its log: `pretty` for people, `json` for machines, `auto` by whether stdout is a terminal. */
export type LogFormat = "auto" | "pretty" | "json";

/** pino's numeric levels, as a pretty line names them. */
const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
/** Lines at this level or above are collapsed when they repeat. */
const COLLAPSE_FROM_LEVEL = 40;
/** A repeat this long after the first is written again rather than counted. */
const COLLAPSE_WINDOW_MS = 60_000;
/** A run of repeats is reported this long after its last one, if no other line comes first. */
const REPEAT_REPORT_DELAY_MS = 5_000;
/** Fields every line has, which a pretty line shows in its own way or not at all. */
const PRETTY_SKIPS = new Set(["level", "time", "msg", "pid", "hostname"]);

type Entry = Record<string, unknown> & { level?: number; time?: number; msg?: string };

/**
 * The log destination of `hubcast start`: takes pino's JSON lines, collapses a warning or error
 * that repeats at once (a Redis that cannot be reached is reported once, then counted, not once
 * per retry), and writes each line to `sink` as it is (`json`) or as one readable line (`pretty`).
 */
export class LogDestination implements DestinationStream {
  private last: { key: string; level: number; at: number } | undefined;
  private repeats = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: { write(line: string): void },
    private readonly format: "pretty" | "json",
  ) {}

  /** The destination for `format`, `auto` resolved by whether `fd` is a terminal. */
  static for(format: LogFormat, sink: { write(line: string): void }, isTerminal: boolean): LogDestination {
    return new LogDestination(sink, format === "auto" ? (isTerminal ? "pretty" : "json") : format);
  }

  write(line: string): void {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch {
      this.sink.write(line); // not pino's: pass it on untouched
      return;
    }
    const level = entry.level ?? 30;
    const key = level >= COLLAPSE_FROM_LEVEL ? repeatKey(entry) : undefined;
    const now = Date.now();
    if (key !== undefined && this.last?.key === key && now - this.last.at < COLLAPSE_WINDOW_MS) {
      this.repeats += 1;
      this.scheduleReport();
      return;
    }
    this.reportRepeats();
    this.last = key === undefined ? undefined : { key, level, at: now };
    this.output(line, entry);
  }

  /** Writes the count of a pending run of repeats now (at exit, say). */
  flush(): void {
    this.reportRepeats();
  }

  private scheduleReport(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reportRepeats(), REPEAT_REPORT_DELAY_MS);
    this.timer.unref();
  }

  private reportRepeats(): void {
    clearTimeout(this.timer);
    if (this.repeats === 0 || this.last === undefined) return;
    const entry: Entry = {
      level: this.last.level,
      time: Date.now(),
      msg: `the previous message repeated ${this.repeats} more ${this.repeats === 1 ? "time" : "times"}`,
      repeated: this.repeats,
    };
    this.repeats = 0;
    this.output(`${JSON.stringify(entry)}\n`, entry);
  }

  private output(line: string, entry: Entry): void {
    this.sink.write(this.format === "json" ? line : `${prettyLine(entry)}\n`);
  }
}

/** Where `hubcast start` (a worker, a cluster primary) logs: stdout, pretty or JSON as `logFormat` says. */
export function logDestination(options: Pick<ResolvedNodeOptions, "logFormat">): LogDestination {
  const destination = LogDestination.for(
    options.logFormat as LogFormat,
    new StdoutDestination(),
    process.stdout.isTTY === true,
  );
  // A run of repeats still being counted is reported before the process goes (writes are synchronous).
  process.once("exit", () => destination.flush());
  return destination;
}

/** What makes two lines the same event: everything but the time. */
function repeatKey(entry: Entry): string {
  const { time: _time, ...rest } = entry;
  return JSON.stringify(rest);
}

/** `12:04:05.120 WARN  redis connection error err="connect ECONNREFUSED 127.0.0.1:6379"`, with an error's stack below at error level. */
export function prettyLine(entry: Entry): string {
  const time = new Date(entry.time ?? Date.now()).toISOString().slice(11, 23);
  const level = (LEVEL_NAMES[entry.level ?? 30] ?? String(entry.level)).padEnd(5);
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [name, value] of Object.entries(entry)) {
    if (PRETTY_SKIPS.has(name) || value === undefined) continue;
    if (isErrorLike(value)) {
      fields.push(`${name}=${JSON.stringify(value.message)}`);
      if ((entry.level ?? 30) >= 50 && typeof value.stack === "string") stack = value.stack;
      continue;
    }
    fields.push(`${name}=${typeof value === "string" && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)}`);
  }
  const head = [time, level, entry.msg ?? "", ...fields].join(" ").trimEnd();
  return stack === undefined ? head : `${head}\n${stack.replace(/^/gm, "    ")}`;
}

function isErrorLike(value: unknown): value is { message: string; stack?: unknown } {
  return typeof value === "object" && value !== null && typeof (value as { message?: unknown }).message === "string";
}
