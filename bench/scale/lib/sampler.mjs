/**
 * Readings taken while a scale run goes on: each process of the server's and the bench's
 * groups (open descriptors, RSS, CPU time, open-files limit), the machine (free memory, TCP
 * sockets and their buffer memory), and the servers' /metrics added up (connections, how many
 * workers or nodes answered). One reading every `intervalMs`, and one on demand at each
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

/** Scrapes one /metrics for what the summary checks: connections and, in cluster mode, whether every worker answered. */
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
 * Scrapes every server's /metrics and adds them up. A cluster primary's scrape counts its
 * workers (`hubcast_cluster_workers`, and those that answered); an independent node counts as
 * one worker, answering when its scrape did. An error only when no scrape answered.
 */
export async function scrapeAll(urls) {
  const scrapes = await Promise.all(urls.map((url) => scrapeMetrics(url)));
  const answered = scrapes.filter((m) => m.error === undefined);
  if (answered.length === 0) return { error: scrapes[0]?.error ?? "no /metrics to scrape" };
  const sum = (key) => answered.reduce((a, m) => (m[key] === undefined ? a : (a ?? 0) + m[key]), undefined);
  const clustered = answered.some((m) => m.workers !== undefined);
  return {
    connections: sum("connections"),
    workers: clustered ? sum("workers") : urls.length,
    workersReporting: clustered ? sum("workersReporting") : answered.length,
    openFds: sum("openFds"),
    rssBytes: sum("rssBytes"),
    cpuSeconds: sum("cpuSeconds"),
    failed: scrapes.filter((m) => m.error !== undefined).map((m) => m.error),
  };
}

/**
 * Samples the run's processes and the machine. `roles` maps a group leader's pid to the names
 * of its leader and its members (`{ leader: "server primary", member: "server worker" }`).
 */
export class RunSampler {
  constructor({ roles, metricsUrls, intervalMs, startedAtMs, onSample }) {
    this.roles = roles;
    this.metricsUrls = metricsUrls;
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
      if (this.metricsUrls.length > 0) reading.metrics = await scrapeAll(this.metricsUrls);
      this.samples.push(reading);
      this.onSample?.(reading);
      return reading;
    } finally {
      this.busy = false;
    }
  }
}
