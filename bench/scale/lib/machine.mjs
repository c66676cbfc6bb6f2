/**
 * What the machine offers a run, read from /proc (Linux): the open-files limit, the kernel
 * settings that bound many connections, free memory, how busy the cores are, which loopback
 * source addresses can be bound, and the platform floor's cost of one socket write.
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";

/** One /proc/sys value as a list of numbers, or undefined where the file is missing. */
function sysctl(name) {
  try {
    return readFileSync(`/proc/sys/${name.replace(/\./g, "/")}`, "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
  } catch {
    return undefined;
  }
}

/** The soft and hard open-files limits of a process, from /proc/<pid>/limits. */
export function openFilesLimit(pid = "self") {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const [soft, hard] = line.slice("Max open files".length).trim().split(/\s+/);
    const value = (v) => (v === "unlimited" ? Number.POSITIVE_INFINITY : Number(v));
    return { soft: value(soft), hard: value(hard) };
  } catch {
    return undefined;
  }
}

/** /proc/meminfo fields in bytes. */
export function memInfo() {
  const text = readFileSync("/proc/meminfo", "utf8");
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN) * 1024;
  return { totalBytes: kib("MemTotal"), availableBytes: kib("MemAvailable") };
}

/** TCP sockets in use, in TIME_WAIT, and the pages of buffer memory they hold, from /proc/net/sockstat. */
export function sockstat() {
  const text = readFileSync("/proc/net/sockstat", "utf8");
  const tcp = /^TCP: (.*)$/m.exec(text)?.[1] ?? "";
  const field = (name) => Number(new RegExp(`\\b${name} (\\d+)`).exec(tcp)?.[1] ?? Number.NaN);
  return { tcpInUse: field("inuse"), tcpTimeWait: field("tw"), tcpMemPages: field("mem") };
}

/** The machine's busy and total CPU time so far, in clock ticks, from /proc/stat. */
function cpuTicks() {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** How busy the machine's cores were over the next `ms`, in % of all of them. */
export async function busyPercent(ms = 1000) {
  const a = cpuTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = cpuTicks();
  return b.total > a.total ? Math.round(((b.busy - a.busy) / (b.total - a.total)) * 1000) / 10 : 0;
}

/** Whether each of 127.0.0.1 … 127.0.0.count can be bound (every 127/8 address is local on Linux). */
export async function bindableLoopback(count) {
  const failed = [];
  for (let i = 1; i <= count; i++) {
    const address = `127.0.0.${i}`;
    const ok = await new Promise((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(0, address, () => server.close(() => resolve(true)));
    });
    if (!ok) failed.push(address);
  }
  return failed;
}

/**
 * The newest bench/floor result's write floor: server CPU per `socket.write()` of a small frame
 * (one write per socket) and the reading client's CPU per write, in µs, with the file it came
 * from; undefined when there is none.
 */
export function writeFloor(repo) {
  const dir = join(repo, "bench/floor/results");
  let files;
  try {
    files = readdirSync(dir)
      .filter((f) => /^\d{4}-\d\d-\d\dT\d{4}\.json$/.test(f))
      .sort();
  } catch {
    return undefined;
  }
  for (const file of files.reverse()) {
    try {
      const run = JSON.parse(readFileSync(join(dir, file), "utf8"));
      const single = run.write?.find((w) => w.variant === "single");
      if (typeof single?.totalUsPerWrite === "number" && typeof single?.clientUsPerWrite === "number")
        return {
          serverUsPerWrite: single.totalUsPerWrite,
          clientUsPerWrite: single.clientUsPerWrite,
          source: `bench/floor/results/${file}`,
        };
    } catch {
      // A result that cannot be read is skipped: an older one may still tell.
    }
  }
  return undefined;
}

/** Everything the plan needs to know about this machine. */
export function readMachine() {
  return {
    cores: availableParallelism(),
    openFiles: openFilesLimit(),
    fileMax: sysctl("fs.file-max")?.[0],
    filesAllocated: sysctl("fs.file-nr")?.[0],
    nrOpen: sysctl("fs.nr_open")?.[0],
    portRange: sysctl("net.ipv4.ip_local_port_range"),
    somaxconn: sysctl("net.core.somaxconn")?.[0],
    tcpMaxSynBacklog: sysctl("net.ipv4.tcp_max_syn_backlog")?.[0],
    tcpTwReuse: sysctl("net.ipv4.tcp_tw_reuse")?.[0],
    tcpMemPages: sysctl("net.ipv4.tcp_mem"),
    tcpRmem: sysctl("net.ipv4.tcp_rmem"),
    tcpWmem: sysctl("net.ipv4.tcp_wmem"),
    conntrackMax: sysctl("net.netfilter.nf_conntrack_max")?.[0],
    conntrackCount: sysctl("net.netfilter.nf_conntrack_count")?.[0],
    pageBytes: 4096,
    memory: memInfo(),
    sockets: sockstat(),
  };
}
