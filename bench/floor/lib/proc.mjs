/**
 * Readings from /proc (Linux): a process's CPU time, the machine's CPU time by kind, the
 * process's memory and open files; and the small statistics the reports use.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat and /proc/stat (USER_HZ; 100 on Linux). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const US_PER_TICK = 1e6 / CLK_TCK;

/**
 * utime and stime of a process (all its threads) or of one thread, in µs, from
 * /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat (resolution: one clock tick).
 * @returns {{ userUs: number, systemUs: number } | undefined} undefined when it is gone
 */
export function procCpu(pid = "self", tid = undefined) {
  let text;
  try {
    text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after the parenthesised command name start at field 3 (state); utime is field 14, stime 15.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { userUs: Number(rest[11]) * US_PER_TICK, systemUs: Number(rest[12]) * US_PER_TICK };
}

const CPU_FIELDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

/** The machine's CPU time by kind (all CPUs), in µs, from the `cpu` line of /proc/stat. */
export function machineCpu() {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1);
  return Object.fromEntries(CPU_FIELDS.map((name, i) => [name, Number(line[i] ?? 0) * US_PER_TICK]));
}

/** b − a, field by field. */
export function diff(a, b) {
  return Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - a[k]]));
}

/** VmRSS, RssAnon, RssFile of this process in bytes, from /proc/self/status. */
export function procStatus() {
  const text = readFileSync("/proc/self/status", "utf8");
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { vmRss: kib("VmRSS"), rssAnon: kib("RssAnon"), rssFile: kib("RssFile") };
}

/** Open file descriptors of this process. */
export function openFiles() {
  return readdirSync("/proc/self/fd").length;
}

/** The soft and hard open-files limits of a process, from /proc/<pid>/limits. */
export function openFilesLimit(pid = "self") {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const [soft, hard] = line.slice("Max open files".length).trim().split(/\s+/);
    const value = (v) => (v === "unlimited" ? Infinity : Number(v));
    return { soft: value(soft), hard: value(hard) };
  } catch {
    return undefined;
  }
}

/** The q-quantile (0..1) of numbers, nearest rank. */
export function quantile(values, q) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The CPUs this process may run on (Cpus_allowed_list of /proc/self/status, e.g. "0-1"). */
export function cpusAllowed() {
  const line = readFileSync("/proc/self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Cpus_allowed_list:"));
  return line?.split(":")[1].trim();
}

/**
 * Restricts every thread of process `pid` to the CPUs `cpuList` (taskset syntax: "0", "1-3"),
 * so that a writer and its readers do not share cores. Throws when `taskset` (util-linux) fails.
 */
export function pinToCpus(pid, cpuList) {
  execFileSync("taskset", ["--all-tasks", "--pid", "--cpu-list", cpuList, String(pid)], { stdio: "ignore" });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
