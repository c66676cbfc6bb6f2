/**
 * Readers for the shipped monitoring files (deploy/prometheus, deploy/grafana): the series a
 * scrape holds, the metric selectors of a PromQL expression, and the alerting rules of
 * deploy/prometheus/hubcast-rules.yml. They read what those files use, not all of PromQL or
 * YAML, and throw on what they do not understand, so a new construct fails a test loudly
 * instead of being checked by half.
 */

/** Label sets by sample name (`hubcast_x_bucket`, not the histogram's base name), from a text exposition. */
export type Exposition = Map<string, Record<string, string>[]>;

/** Parses a Prometheus text exposition into each sample name's label sets. */
export function parseExposition(text: string): Exposition {
  const series: Exposition = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (match === null) throw new Error(`unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[name ?? ""] = value ?? "";
    const name = match[1] ?? "";
    const sets = series.get(name) ?? [];
    sets.push(labels);
    series.set(name, sets);
  }
  return series;
}

/** One label matcher of a selector: `code="slow_consumer"` is `{ label: "code", op: "=", value: "slow_consumer" }`. */
export interface Matcher {
  label: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

/** A vector selector: a metric name and its label matchers. */
export interface Selector {
  metric: string;
  matchers: Matcher[];
}

/** What an expression reads: its selectors, the labels it groups by, and whether it aggregates. */
export interface ExpressionParts {
  selectors: Selector[];
  /** Labels of every `by (...)`, `without (...)`, `on (...)`, `ignoring (...)` and `group_left/right (...)`. */
  groupingLabels: string[];
  /** Whether an aggregation operator (sum, count, max, …) appears: its result keeps only the `by` labels. */
  aggregates: boolean;
}

const AGGREGATIONS = ["sum", "count", "avg", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk", "quantile"];
const KEYWORDS = new Set(["and", "or", "unless", "bool", "inf", "nan"]);

/**
 * The metric selectors of a PromQL expression, with Grafana's `$variables` allowed inside
 * label values and ranges. Function and aggregation names (an identifier before `(`) are not
 * selectors. Throws on a selector without a metric name (`{__name__=...}`).
 */
export function expressionParts(expr: string): ExpressionParts {
  const selectors: Selector[] = [];
  const aggregates = new RegExp(`\\b(?:${AGGREGATIONS.join("|")})\\s*(?:by|without|\\()`).test(expr);
  let rest = expr.replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_, metric: string | undefined, body: string) => {
    if (metric === undefined) throw new Error(`a selector without a metric name in ${expr}`);
    selectors.push({ metric, matchers: matchersOf(body, expr) });
    return " ";
  });
  rest = rest.replace(/\[[^\]]*\]/g, " ").replace(/\boffset\s+\S+/g, " ");
  const groupingLabels: string[] = [];
  rest = rest.replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, labels: string) => {
    groupingLabels.push(
      ...labels
        .split(",")
        .map((l) => l.trim())
        .filter((l) => l !== ""),
    );
    return " ";
  });
  // An identifier not glued to a number or `$`, taken whole, and not called: a bare metric name.
  for (const [, name] of rest.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    if (name !== undefined && !KEYWORDS.has(name.toLowerCase())) selectors.push({ metric: name, matchers: [] });
  }
  return { selectors, groupingLabels, aggregates };
}

function matchersOf(body: string, expr: string): Matcher[] {
  const matchers: Matcher[] = [];
  const leftover = body.replace(
    /\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/g,
    (_, label: string, op: Matcher["op"], value: string) => {
      matchers.push({ label, op, value });
      return "";
    },
  );
  if (leftover.trim() !== "") throw new Error(`unreadable label matchers {${body}} in ${expr}`);
  return matchers;
}

/** One alerting rule as hubcast-rules.yml writes it. */
export interface AlertRule {
  alert: string;
  expr: string;
  /** The `for:` duration, or undefined when the rule fires at its first evaluation. */
  for: string | undefined;
  severity: string;
  summary: string;
  description: string | undefined;
}

/**
 * The alerting rules of a rules file written as hubcast-rules.yml is: one group, each rule a
 * `- alert:` item whose keys are one-line scalars (`expr`, `for`) or one-level mappings
 * (`labels`, `annotations`) of one-line scalars. Throws on anything else (a block scalar, a
 * recording rule, a key it does not know), so the file keeps to what this reads; promtool
 * checks that it is valid for Prometheus.
 */
export function readAlertRules(text: string): AlertRule[] {
  const lines = text.split("\n").filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"));
  const first = lines.findIndex((line) => /^\s*- alert:/.test(line));
  if (first === -1) throw new Error("no `- alert:` item");
  const itemIndent = lines[first]?.indexOf("-") ?? 0;
  const items: string[][] = [];
  for (const line of lines.slice(first)) {
    if (line.indexOf("-") === itemIndent && line.trimStart().startsWith("- ")) items.push([]);
    items.at(-1)?.push(line);
  }
  return items.map((item) => alertRule(item, itemIndent + 2));
}

function alertRule(item: string[], keyIndent: number): AlertRule {
  const fields = new Map<string, string>();
  let section: string | undefined;
  for (const [i, raw] of item.entries()) {
    const line = i === 0 ? `${" ".repeat(keyIndent)}${raw.trimStart().slice(2)}` : raw;
    const indent = line.length - line.trimStart().length;
    const match = /^(\w+):\s*(.*)$/.exec(line.trim());
    if (match === null) throw new Error(`unreadable rule line: ${raw}`);
    const [, key = "", value = ""] = match;
    if (indent === keyIndent) {
      section = value === "" ? key : undefined;
      if (value !== "") fields.set(key, scalar(value, raw));
    } else if (indent === keyIndent + 2 && section !== undefined && value !== "") {
      fields.set(`${section}.${key}`, scalar(value, raw));
    } else {
      throw new Error(`unexpected nesting: ${raw}`);
    }
  }
  const known = ["alert", "expr", "for", "labels.severity", "annotations.summary", "annotations.description"];
  for (const key of fields.keys()) if (!known.includes(key)) throw new Error(`unknown rule key ${key}`);
  const need = (key: string): string => {
    const value = fields.get(key);
    if (value === undefined) throw new Error(`rule ${fields.get("alert")} has no ${key}`);
    return value;
  };
  return {
    alert: need("alert"),
    expr: need("expr"),
    for: fields.get("for"),
    severity: need("labels.severity"),
    summary: need("annotations.summary"),
    description: fields.get("annotations.description"),
  };
}

/**
 * A one-line YAML scalar: plain, double-quoted with `\"` and `\\` escapes, or single-quoted
 * with `''` for a quote (the formatter prefers single quotes around text holding double quotes).
 */
function scalar(value: string, raw: string): string {
  if (value.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(value)) throw new Error(`unreadable quoted scalar: ${raw}`);
    return value.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  if (value.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(value)) throw new Error(`unreadable quoted scalar: ${raw}`);
    return value.slice(1, -1).replaceAll("''", "'");
  }
  if (/^[|>[{&*!]/.test(value)) throw new Error(`only plain and quoted one-line scalars are read: ${raw}`);
  return value;
}
