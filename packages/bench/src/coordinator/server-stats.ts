import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";

/** One reading of a server's cost counters. Fields are undefined when the source lacks them. */
export interface ServerSample {
  /** When it was taken, ms since the Unix epoch. */
  atMs: number;
  /** CPU time (user + system) since the process started, in seconds. */
  cpuSeconds?: number;
  /** The part of cpuSeconds spent in the kernel (system time): on loopback, most of a socket write. */
  systemCpuSeconds?: number;
  /** Resident set size, in bytes. */
  rssBytes?: number;
  /** Open WebSocket connections, as the server counts them. */
  connections?: number;
  /** Publication frames the server has sent, as it counts them (a fan-out to N counts N). */
  publicationsSent?: number;
  /** Why the reading failed; the other fields are then absent. */
  error?: string;
}

/** Where server stats come from: a Prometheus endpoint or a process id. */
export interface StatsSource {
  /** The metrics URL, or `pid:<n>`. */
  readonly name: string;
  readonly kind: "metrics" | "proc";
  sample(): Promise<ServerSample>;
}

/** Sum of the samples of `metric` in Prometheus text, restricted to lines whose labels contain `labelFilter`; undefined when absent. */
export function promValue(text: string, metric: string, labelFilter?: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(metric)) continue;
    const rest = line.slice(metric.length);
    if (rest[0] !== " " && rest[0] !== "{") continue; // a longer metric name
    if (labelFilter !== undefined && !rest.includes(labelFilter)) continue;
    const value = Number(
      rest
        .slice(rest.lastIndexOf(rest.includes("}") ? "}" : " ") + 1)
        .trim()
        .split(" ")[0],
    );
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** Scrapes a Hubcast node's `/metrics`. */
export class MetricsSource implements StatsSource {
  readonly kind = "metrics" as const;

  constructor(readonly name: string) {}

  async sample(): Promise<ServerSample> {
    const atMs = Date.now();
    let text: string;
    try {
      const res = await fetch(this.name, { signal: AbortSignal.timeout(5_000) });
      if (res.status !== 200) {
        return {
          atMs,
          error: `${this.name} answered ${res.status}; start the server with metrics on, or pass --server-pid to read /proc instead`,
        };
      }
      text = await res.text();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      return {
        atMs,
        error: `cannot scrape ${this.name} (${cause}); pass --metrics-url, or --server-pid to read /proc instead`,
      };
    }
    const sample: ServerSample = { atMs };
    const cpu = promValue(text, "hubcast_process_cpu_seconds_total");
    const systemCpu = promValue(text, "hubcast_process_cpu_system_seconds_total");
    const rss = promValue(text, "hubcast_process_resident_memory_bytes");
    const connections = promValue(text, "hubcast_connections");
    const publications = promValue(text, "hubcast_messages_sent_total", 'type="publication"');
    if (cpu !== undefined) sample.cpuSeconds = cpu;
    if (systemCpu !== undefined) sample.systemCpuSeconds = systemCpu;
    if (rss !== undefined) sample.rssBytes = rss;
    if (connections !== undefined) sample.connections = connections;
    if (publications !== undefined) sample.publicationsSent = publications;
    if (cpu === undefined && rss === undefined)
      sample.error = `${this.name} has no hubcast_process_* metrics; pass --server-pid to read /proc instead`;
    return sample;
  }
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (getconf CLK_TCK; 100 on Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100; // getconf is missing; Linux uses 100 everywhere in practice
    }
  }
  return clockTicks;
}

/** Reads CPU time and RSS of a local process from /proc (Linux), for servers without /metrics. */
export class ProcSource implements StatsSource {
  readonly kind = "proc" as const;
  readonly name: string;

  constructor(readonly pid: number) {
    this.name = `pid:${pid}`;
  }

  async sample(): Promise<ServerSample> {
    const atMs = Date.now();
    try {
      const [stat, status] = await Promise.all([
        readFile(`/proc/${this.pid}/stat`, "utf8"),
        readFile(`/proc/${this.pid}/status`, "utf8"),
      ]);
      // Fields after the command name, which may hold spaces: field 3 (state) is index 0.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const userTicks = Number(fields[11]); // utime (field 14)
      const systemTicks = Number(fields[12]); // stime (field 15)
      const rssKb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
      const sample: ServerSample = {
        atMs,
        cpuSeconds: (userTicks + systemTicks) / ticksPerSecond(),
        systemCpuSeconds: systemTicks / ticksPerSecond(),
      };
      if (rssKb !== undefined) sample.rssBytes = Number(rssKb) * 1024;
      return sample;
    } catch (err) {
      return {
        atMs,
        error: `cannot read /proc/${this.pid} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is --server-pid ${this.pid} a running process on this machine?`,
      };
    }
  }
}

/** The stats sources for the options: one per pid when pids are given, else one per metrics URL. */
export function statsSources(options: {
  serverPids: readonly number[];
  metricsUrls: readonly string[];
}): StatsSource[] {
  if (options.serverPids.length > 0) return options.serverPids.map((pid) => new ProcSource(pid));
  return options.metricsUrls.map((url) => new MetricsSource(url));
}

/** Samples every source at once. */
export function sampleAll(sources: readonly StatsSource[]): Promise<ServerSample[]> {
  return Promise.all(sources.map((s) => s.sample()));
}
