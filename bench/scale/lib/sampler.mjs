/**
 * Readings taken while a scale run goes on: each process of the server's and the bench's
 * groups (open descriptors, RSS, CPU time, open-files limit), the machine (free memory, TCP
 * sockets and their buffer memory), and the server's cluster-wide /metrics (connections, how
 * many workers the scrape holds). One reading every `intervalMs`, and one on demand at each
 * phase; the peaks are what the summary reports.
 */
import { readdirSync, readFileSync } from "node:fs";
import { memInfo, openFilesLimit, sockstat } from "./machine.mjs";
import { groupMembers } from "./processes.mjs";

/** One metric's value (summed over label sets) in Prometheus text; undefined when absent. */
export function promValue(text, metric) {
  let sum;
  for (const line of text.split("\n")) {
    if (!line.startsWith(metric)) continue;
    const rest = line.slice(metric.length);
    if (rest[0] !== " " && rest[0] !== "{") continue; // a longer metric name
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

function openFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

function rssBytes(pid) {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** Scrapes the cluster-wide /metrics for what the summary checks: connections and whether every worker answered. */
export async function scrapeMetrics(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) return { error: `${url} answered ${res.status}` };
    const text = await res.text();
    return {
      connections: promValue(text, "hubcast_connections"),
      workers: promValue(text, "hubcast_cluster_workers"),
      workersReporting: promValue(text, "hubcast_cluster_workers_reporting"),
      openFds: promValue(text, "hubcast_process_open_fds"),
      rssBytes: promValue(text, "hubcast_process_resident_memory_bytes"),
      cpuSeconds: promValue(text, "hubcast_process_cpu_seconds_total"),
    };
  } catch (err) {
    return { error: `cannot scrape ${url}: ${err.cause?.code ?? err.message}` };
  }
}

/**
 * Samples the run's processes and the machine. `roles` maps a group leader's pid to the names
 * of its leader and its members (`{ leader: "server primary", member: "server worker" }`).
 */
export class RunSampler {
  constructor({ roles, metricsUrl, intervalMs, startedAtMs, onSample }) {
    this.roles = roles;
    this.metricsUrl = metricsUrl;
    this.intervalMs = intervalMs;
    this.startedAtMs = startedAtMs;
    this.onSample = onSample;
    /** Every reading, in order. */
    this.samples = [];
    /** Open-files limits per role, as the processes themselves have them. */
    this.limits = {};
    /** Every pid seen in the run's groups, with its role. */
    this.seen = new Map();
    this.timer = undefined;
    this.busy = false;
  }

  start() {
    this.timer = setInterval(() => void this.sample("interval"), this.intervalMs);
    this.timer.unref();
  }

  stop() {
    clearInterval(this.timer);
  }

  /** Takes one reading now, labelled with the phase; a reading already under way is not doubled. */
  async sample(label) {
    if (this.busy && label === "interval") return undefined;
    this.busy = true;
    try {
      const reading = { label, tS: (Date.now() - this.startedAtMs) / 1000, processes: [] };
      for (const member of groupMembers([...this.roles.keys()])) {
        const names = this.roles.get(member.pgrp);
        const role = member.pid === member.pgrp ? names.leader : names.member;
        this.seen.set(member.pid, role);
        this.limits[role] ??= openFilesLimit(member.pid);
        reading.processes.push({
          pid: member.pid,
          role,
          fds: openFds(member.pid),
          rssBytes: rssBytes(member.pid),
          cpuTicks: member.cpuTicks,
        });
      }
      reading.machine = { memAvailableBytes: memInfo().availableBytes, ...sockstat() };
      if (this.metricsUrl !== undefined) reading.metrics = await scrapeMetrics(this.metricsUrl);
      this.samples.push(reading);
      this.onSample?.(reading);
      return reading;
    } finally {
      this.busy = false;
    }
  }
}
