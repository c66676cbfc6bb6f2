import { describe, expect, it } from "vitest";
import { expressionParts, parseExposition, readAlertRules } from "./monitoring.js";

describe("expressionParts", () => {
  it("finds selectors with their matchers, not functions, keywords, numbers, ranges or Grafana variables", () => {
    const parts = expressionParts(
      'histogram_quantile(0.99, sum by (le) (rate(hubcast_x_bucket{instance=~"$instance", source="api"}[$__rate_interval]))) > 0.1 and on (instance) hubcast_ready == 1e3 or vector(0)',
    );
    expect(parts.selectors).toEqual([
      {
        metric: "hubcast_x_bucket",
        matchers: [
          { label: "instance", op: "=~", value: "$instance" },
          { label: "source", op: "=", value: "api" },
        ],
      },
      { metric: "hubcast_ready", matchers: [] },
    ]);
    expect(parts.groupingLabels).toEqual(["le", "instance"]);
    expect(parts.aggregates).toBe(true);
  });

  it("reads offsets and bare selectors, and says when nothing aggregates", () => {
    const parts = expressionParts("increase(hubcast_a_total[10m] offset 1d) > 3 * hubcast_b");
    expect(parts.selectors.map((s) => s.metric)).toEqual(["hubcast_a_total", "hubcast_b"]);
    expect(parts.aggregates).toBe(false);
  });

  it("throws on what it cannot read", () => {
    expect(() => expressionParts('{__name__="x"}')).toThrow(/without a metric name/);
    expect(() => expressionParts("x{a=b}")).toThrow(/unreadable label matchers/);
  });
});

describe("parseExposition", () => {
  it("keys label sets by sample name", () => {
    const text =
      '# HELP x_seconds x\nx_seconds_bucket{le="0.1",source="api"} 0\nx_seconds_count{source="api"} 0\nup 1\n';
    expect(parseExposition(text)).toEqual(
      new Map([
        ["x_seconds_bucket", [{ le: "0.1", source: "api" }]],
        ["x_seconds_count", [{ source: "api" }]],
        ["up", [{}]],
      ]),
    );
  });
});

describe("readAlertRules", () => {
  const rules = `groups:
  - name: g
    rules:
      # a comment
      - alert: A
        expr: up{job="x"} == 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.instance }} says \\"no\\""

      - alert: B
        expr: x > 1
        labels:
          severity: warning
        annotations:
          summary: plain
          description: 'it''s "quoted"'
`;

  it("reads each rule's fields", () => {
    expect(readAlertRules(rules)).toEqual([
      {
        alert: "A",
        expr: 'up{job="x"} == 0',
        for: "1m",
        severity: "critical",
        summary: '{{ $labels.instance }} says "no"',
        description: undefined,
      },
      {
        alert: "B",
        expr: "x > 1",
        for: undefined,
        severity: "warning",
        summary: "plain",
        description: 'it\'s "quoted"',
      },
    ]);
  });

  it("throws on block scalars, unknown keys and missing fields", () => {
    expect(() => readAlertRules(rules.replace("expr: x > 1", "expr: |\n          x > 1"))).toThrow();
    expect(() => readAlertRules(rules.replace("for: 1m", "keep_firing_for: 1m"))).toThrow(/unknown rule key/);
    expect(() => readAlertRules(rules.replace("          severity: warning\n", ""))).toThrow(/no labels.severity/);
  });
});
