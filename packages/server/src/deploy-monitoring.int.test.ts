import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEPLOY_DIR } from "../../../test/support/load-balancers.js";
import { expressionParts, parseExposition, readAlertRules } from "../../../test/support/monitoring.js";
import type { Exposition, Selector } from "../../../test/support/monitoring.js";
import { TestCluster } from "../../../test/support/nodes.js";
import { TEST_APP } from "../../../test/support/pusher.js";
import { MetricsCollector } from "./cluster/metrics-collector.js";

// The shipped Grafana dashboard and Prometheus rules read only metrics a node really exports:
// every selector of every query is checked against a real node's /metrics (with a Pusher app,
// so its per-app series exist) plus what a cluster primary adds (hubcast_cluster_workers...),
// with the labels and label values it matches. Also the dashboard's shape (what Grafana's
// import needs), and the alerts table of docs/operations.md against the rules file.

const DASHBOARD_FILE = join(DEPLOY_DIR, "grafana", "hubcast-dashboard.json");
const RULES_FILE = join(DEPLOY_DIR, "prometheus", "hubcast-rules.yml");
/** The uid Grafana's import replaces by the data source picked for the DS_PROMETHEUS input. */
const DS_UID = `\${DS_PROMETHEUS}`;
const DATASOURCE = { type: "prometheus", uid: DS_UID };
/** Labels Prometheus adds to every scraped series: no exposition has them. */
const TARGET_LABELS = new Set(["instance", "job"]);
/** Prometheus' own series of every target, not in any exposition. */
const PROMETHEUS_SERIES: Exposition = new Map([["up", [{}]]]);

interface Target {
  expr: string;
  legendFormat?: string;
  refId: string;
  datasource?: unknown;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; datasource: unknown; definition: string; query: { query: string } }[];
  };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
const rulesText = readFileSync(RULES_FILE, "utf8");
const rules = readAlertRules(rulesText);
/** Every panel, those inside rows included. */
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== "row");

const cluster = new TestCluster();
/** What some Hubcast /metrics answers: a node serving a Pusher app, and a cluster primary's additions. */
let exported: Exposition = new Map();

beforeAll(async () => {
  const { node } = await cluster.node({ metrics: true, pusherApps: [TEST_APP] });
  const res = await fetch(`${node.address.url}/metrics`);
  expect(res.status).toBe(200);
  const primary = new MetricsCollector({ workers: 2, logger: pino({ level: "silent" }) });
  exported = new Map([...parseExposition(await primary.collect([])), ...parseExposition(await res.text())]);
});
afterAll(() => cluster.cleanup());

/** Why `selector` matches nothing any Hubcast node exports, or undefined when it does match. */
function problemWith(selector: Selector): string | undefined {
  const sets = exported.get(selector.metric) ?? PROMETHEUS_SERIES.get(selector.metric);
  if (sets === undefined) return `${selector.metric} is not exported`;
  for (const { label, op, value } of selector.matchers) {
    if (TARGET_LABELS.has(label)) continue;
    const values = sets.flatMap((labels) => (labels[label] === undefined ? [] : [labels[label]]));
    if (values.length === 0) return `${selector.metric} has no label ${label}`;
    if (op === "=" && !values.includes(value)) return `${selector.metric} has no ${label}="${value}"`;
    if (op === "=~" && !value.includes("$") && !values.some((v) => new RegExp(`^(?:${value})$`).test(v ?? "")))
      return `${selector.metric} has no ${label} matching ${value}`;
  }
  return undefined;
}

/** Every problem of `expr`: selectors of nothing, and grouping labels none of its metrics has. */
function problemsOf(expr: string): string[] {
  const parts = expressionParts(expr);
  const problems = parts.selectors.flatMap((s) => problemWith(s) ?? []);
  const labels = new Set(
    parts.selectors.flatMap((s) => (exported.get(s.metric) ?? []).flatMap((labels) => Object.keys(labels))),
  );
  for (const label of parts.groupingLabels) {
    if (!TARGET_LABELS.has(label) && !labels.has(label)) problems.push(`no metric of it has the label ${label}`);
  }
  return problems;
}

describe("deploy/grafana/hubcast-dashboard.json and deploy/prometheus/hubcast-rules.yml", () => {
  it("the exposition holds what a full node exports (a Pusher app's series, histogram buckets, cluster gauges)", () => {
    for (const name of [
      "hubcast_pusher_connections",
      "hubcast_publish_duration_seconds_bucket",
      "hubcast_cluster_workers_reporting",
      "hubcast_process_resident_memory_bytes",
    ]) {
      expect(exported.has(name), name).toBe(true);
    }
    // A histogram's base name is no series: a query must name _bucket, _sum or _count.
    expect(exported.has("hubcast_publish_duration_seconds")).toBe(false);
  });

  it("every dashboard query reads metrics a node exports, with labels and values they have", () => {
    const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(targets.length).toBeGreaterThan(30);
    const problems = targets.flatMap(({ panel, expr }) => problemsOf(expr).map((p) => `${panel}: ${p} in ${expr}`));
    expect(problems).toEqual([]);
  });

  it("every alerting rule reads metrics a node exports, with labels and values they have", () => {
    expect(rules.length).toBeGreaterThan(10);
    const problems = rules.flatMap((r) => problemsOf(r.expr).map((p) => `${r.alert}: ${p} in ${r.expr}`));
    expect(problems).toEqual([]);
  });
});

describe("deploy/grafana/hubcast-dashboard.json", () => {
  it("is an importable dashboard whose Prometheus is chosen at import (its DS_PROMETHEUS input)", () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe("hubcast");
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" }),
    ]);
    for (const panel of queryPanels) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual(DATASOURCE);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
    // No datasource of the machine it was exported from.
    const uids = [...readFileSync(DASHBOARD_FILE, "utf8").matchAll(/"uid": "([^"]*)"/g)].map((m) => m[1]);
    expect(new Set(uids)).toEqual(new Set(["hubcast", DS_UID, "-- Grafana --"]));
  });

  it("has unique panel ids, and panels inside the 24-column grid that do not overlap", () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, string>();
    for (const { title, gridPos } of dashboard.panels) {
      const { h, w, x, y } = gridPos;
      expect(
        [h, w, x, y].every((n) => Number.isInteger(n) && n >= 0),
        title,
      ).toBe(true);
      expect(h > 0 && w > 0 && x + w <= 24, title).toBe(true);
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const taken = cells.get(`${row},${col}`);
          expect(taken, `${title} overlaps ${taken}`).toBeUndefined();
          cells.set(`${row},${col}`, title);
        }
      }
    }
  });

  it("every query is filtered by $instance, every panel has a unit, and legends name labels the query keeps", () => {
    for (const panel of queryPanels) {
      expect(panel.fieldConfig?.defaults?.unit, panel.title).toBeTruthy();
      for (const { expr, legendFormat } of panel.targets ?? []) {
        const parts = expressionParts(expr);
        for (const s of parts.selectors) {
          expect(s.matchers, `${panel.title}: ${expr}`).toContainEqual({
            label: "instance",
            op: "=~",
            value: "$instance",
          });
        }
        const kept = parts.aggregates
          ? new Set(parts.groupingLabels)
          : new Set([
              ...TARGET_LABELS,
              ...parts.selectors.flatMap((s) => (exported.get(s.metric) ?? []).flatMap((l) => Object.keys(l))),
            ]);
        for (const [, label] of (legendFormat ?? "").matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
          expect(kept.has(label ?? ""), `${panel.title}: legend {{${label}}} of ${expr}`).toBe(true);
        }
      }
    }
  });

  it("its instance variable lists the instances of a metric every node exports, from the chosen Prometheus", () => {
    const variable = dashboard.templating.list.find((v) => v.name === "instance");
    expect(variable).toBeDefined();
    expect(variable?.datasource).toEqual(DATASOURCE);
    const query = /^label_values\((\w+), instance\)$/.exec(variable?.query.query ?? "");
    expect(query).not.toBeNull();
    expect(variable?.definition).toBe(variable?.query.query);
    expect(exported.has(query?.[1] ?? "")).toBe(true);
  });
});

describe("deploy/prometheus/hubcast-rules.yml", () => {
  it("is one group, hubcast, of alerts with a severity and a summary", () => {
    expect(rulesText.match(/^\s*- name: /gm)).toEqual(["  - name: "]);
    expect(rulesText).toMatch(/^ {2}- name: hubcast$/m);
    expect(rulesText.match(/^\s*- alert: /gm)?.length).toBe(rules.length);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(["warning", "critical"], rule.alert).toContain(rule.severity);
      expect(rule.summary, rule.alert).not.toBe("");
    }
  });

  it("is what the alerts table of docs/operations.md lists, alert by alert, with severity and for", () => {
    const doc = readFileSync(new URL("../../../docs/operations.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("\n## Alerts\n"), doc.indexOf("\n## ", doc.indexOf("\n## Alerts\n") + 1));
    expect(section).toContain("](../deploy/prometheus/hubcast-rules.yml)");
    const rows = section
      .split("\n")
      .map((line) => /^\| `(\w+)` \| (\w+) \| (\w+|at once) \|/.exec(line))
      .flatMap((m) =>
        m === null ? [] : [{ alert: m[1], severity: m[2], for: m[3] === "at once" ? undefined : m[3] }],
      );
    expect(rows).toEqual(rules.map((r) => ({ alert: r.alert, severity: r.severity, for: r.for })));
  });
});
