import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LogDestination, prettyLine } from "./log-destination.js";

/** A destination writing into an array, and a pino logger on it. */
function logged(format: "pretty" | "json") {
  const lines: string[] = [];
  const destination = new LogDestination({ write: (line) => lines.push(line) }, format);
  return { lines, destination, logger: pino({ base: { pid: 1, hostname: "h" } }, destination) };
}

describe("LogDestination", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes pino's JSON lines as they are in json format", () => {
    const { lines, logger } = logged("json");
    logger.info({ url: "http://127.0.0.1:8080" }, "hubcast listening");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({
      level: 30,
      msg: "hubcast listening",
      url: "http://127.0.0.1:8080",
    });
  });

  it("writes one readable line per event in pretty format, with an error's message, and its stack at error level", () => {
    const { lines, logger } = logged("pretty");
    logger.info({ url: "http://127.0.0.1:8080", engine: "memory", count: 3, note: "two words" }, "hubcast listening");
    logger.warn({ err: new Error("connect ECONNREFUSED 127.0.0.1:6379") }, "redis connection error");
    logger.error({ err: new Error("boom") }, "shutdown failed");
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}hubcast listening url=http:\/\/127\.0\.0\.1:8080 engine=memory count=3 note="two words"\n$/,
    );
    expect(lines[1]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}redis connection error err="connect ECONNREFUSED 127\.0\.0\.1:6379"\n$/,
    );
    expect(lines[2]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR shutdown failed err="boom"\n {4}Error: boom\n {8}at /);
  });

  it("collapses a warning repeated at once into one line and a count, reported at the next other line or after a pause", () => {
    vi.useFakeTimers();
    const { lines, logger } = logged("json");
    for (let i = 0; i < 16; i++) logger.warn({ err: "connect ECONNREFUSED" }, "redis connection error");
    expect(lines).toHaveLength(1);
    logger.info("hubcast listening");
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([
      "redis connection error",
      "the previous message repeated 15 more times",
      "hubcast listening",
    ]);
    expect(JSON.parse(lines[1] ?? "")).toMatchObject({ level: 40, repeated: 15 });
    // A new run, then quiet: the count follows by itself.
    logger.warn("engine unreachable");
    logger.warn("engine unreachable");
    vi.advanceTimersByTime(5_000);
    expect(JSON.parse(lines.at(-1) ?? "")).toMatchObject({
      msg: "the previous message repeated 1 more time",
      repeated: 1,
    });
  });

  it("never collapses info lines, nor warnings that differ in a field", () => {
    const { lines, logger } = logged("json");
    logger.info("tick");
    logger.info("tick");
    logger.warn({ node: "a" }, "link silent");
    logger.warn({ node: "b" }, "link silent");
    expect(lines).toHaveLength(4);
  });

  it("picks pretty on a terminal and json elsewhere for auto", () => {
    const sink = {
      lines: [] as string[],
      write(line: string) {
        this.lines.push(line);
      },
    };
    LogDestination.for("auto", sink, true).write('{"level":30,"time":0,"msg":"hi"}\n');
    LogDestination.for("auto", sink, false).write('{"level":30,"time":0,"msg":"hi"}\n');
    expect(sink.lines).toEqual([
      `${prettyLine({ level: 30, time: 0, msg: "hi" })}\n`,
      '{"level":30,"time":0,"msg":"hi"}\n',
    ]);
  });
});
