import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";

/** Keeps the metrics table of docs/operations.md true to the registry. */
import { PusherMetrics } from "./pusher/metrics.js";

const doc = readFileSync(new URL("../../../docs/operations.md", import.meta.url), "utf8");
const lines = doc.split("\n");
const start = lines.indexOf("## Metrics");
const end = lines.findIndex((line, i) => i > start && line.startsWith("## "));
const section = lines.slice(start + 1, end);

/** Documented metrics: name → [type, labels cell]. */
const documented = new Map<string, [string, string]>();
for (const line of section) {
  const cells = line
    .split("|")
    .slice(1, -1)
    .map((cell) => cell.trim());
  const name = /^`(hubcast_\w+)`$/.exec(cells[0] ?? "")?.[1];
  if (name !== undefined) documented.set(name, [cells[1] ?? "", cells[2] ?? ""]);
}

const isProcessMetric = (name: string): boolean =>
  name.startsWith("hubcast_process_") || name.startsWith("hubcast_nodejs_");

async function registered(): Promise<{ name: string; type: string; labels: Set<string> }[]> {
  const metrics = new Metrics({
    ready: () => true,
    connections: () => 0,
    connectionsByTransport: () => new Map(),
    subscriptions: () => 0,
    channels: () => 0,
    peers: () => 0,
  });
  // A node serving Pusher apps adds its per-app metrics to the same registry.
  new PusherMetrics(metrics.registry, ["1001"], () => new Map());
  const all = await metrics.scrapeRegistry().getMetricsAsJSON();
  return all.map((m) => ({
    name: m.name,
    type: String(m.type),
    labels: new Set(m.values.flatMap((v) => Object.keys(v.labels)).filter((label) => label !== "le")),
  }));
}

describe("docs/operations.md metrics table", () => {
  it("lists exactly the node's own metrics, with their types and label names", async () => {
    const own = (await registered()).filter((m) => !isProcessMetric(m.name));
    expect([...documented.keys()].sort()).toEqual(own.map((m) => m.name).sort());
    for (const m of own) {
      const [type, labelsCell] = documented.get(m.name) ?? ["", ""];
      expect(type, m.name).toBe(m.type);
      const labels = [...labelsCell.matchAll(/`(\w+)`:/g)].map((match) => match[1]);
      expect(labels, m.name).toEqual([...m.labels]);
    }
  });

  it("names only process metrics the node exports", async () => {
    const names = new Set((await registered()).map((m) => m.name));
    const mentioned = section.join("\n").match(/hubcast_(?:process|nodejs)_\w+/g) ?? [];
    expect(mentioned.length).toBeGreaterThan(0);
    for (const name of mentioned) expect(names.has(name), name).toBe(true);
  });
});
