import { readFileSync } from "node:fs";
import type { Layout } from "../layout.js";
import { workerConnectionCount } from "../layout.js";
import { BenchUsageError } from "../options.js";
import { parseWsTarget } from "../ws/handshake.js";

/** File descriptors a worker needs besides its sockets (stdio, IPC, libuv, DNS). */
const FD_RESERVE = 100;

/** The soft open-files limit of this process (inherited by workers), or undefined where /proc is missing. */
export function openFilesLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === undefined) return undefined;
    return soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return undefined;
  }
}

/** The ephemeral port range (Linux), or undefined where /proc is missing. */
export function ephemeralPortRange(): { low: number; high: number } | undefined {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return low !== undefined && high !== undefined && high >= low ? { low, high } : undefined;
  } catch {
    return undefined;
  }
}

const fmt = (n: number): string => n.toLocaleString("en-US");

/**
 * Checks that the run fits the machine: each worker's sockets under the open-files limit, and
 * the connections to each target under the ephemeral ports of the source addresses. Throws a
 * {@link BenchUsageError} that says which limit and how to get past it.
 */
export function checkClientLimits(
  layout: Layout,
  limits = { openFiles: openFilesLimit(), ports: ephemeralPortRange() },
): void {
  const perProcess = Math.max(...Array.from({ length: layout.processes }, (_, w) => workerConnectionCount(layout, w)));
  if (limits.openFiles !== undefined && perProcess + FD_RESERVE > limits.openFiles) {
    const needed = Math.ceil((layout.connections + layout.publishers) / Math.max(1, limits.openFiles - FD_RESERVE));
    throw new BenchUsageError(
      `each worker process would open ${fmt(perProcess)} sockets, but the open-files limit is ${fmt(limits.openFiles)}; ` +
        `use more processes (--processes ${needed}) or raise the limit (ulimit -n, LimitNOFILE= in systemd, nofile in /etc/security/limits.conf)`,
    );
  }
  if (limits.ports === undefined) return;
  const available = limits.ports.high - limits.ports.low + 1;
  const perTarget = new Map<string, number>();
  const add = (url: string, n: number): void => {
    const t = parseWsTarget(url);
    const key = `${t.host}:${t.port}`;
    perTarget.set(key, (perTarget.get(key) ?? 0) + n);
  };
  const share = (total: number, urls: readonly string[], k: number): number =>
    Math.floor(total / urls.length) + (k < total % urls.length ? 1 : 0);
  layout.subscriberUrls.forEach((url, k) => {
    add(url, share(layout.connections, layout.subscriberUrls, k));
  });
  if (!layout.apiPublish) {
    layout.publisherUrls.forEach((url, k) => {
      add(url, share(layout.publishers, layout.publisherUrls, k));
    });
  }
  const addresses = Math.max(1, layout.sourceAddresses.length);
  for (const [target, count] of perTarget) {
    const perAddress = Math.ceil(count / addresses);
    if (perAddress > available) {
      throw new BenchUsageError(
        `${fmt(count)} connections to ${target} from ${addresses} source address${addresses === 1 ? "" : "es"} need ${fmt(perAddress)} ephemeral ports each, ` +
          `but only ${fmt(available)} are available (${limits.ports.low}–${limits.ports.high}); use more source addresses (--source-addresses ${Math.ceil(count / (available * 0.9))}) ` +
          `or widen the range (sysctl -w net.ipv4.ip_local_port_range="1024 65535")`,
      );
    }
  }
}
