import { describe, expect, it } from "vitest";
import { type ChartSpec, lineChart } from "./svg.js";

const spec = (over: Partial<ChartSpec> = {}): ChartSpec => ({
  key: "demo",
  title: "Demo <chart>",
  xLabel: "seconds since start",
  yLabel: "per second",
  series: [
    { key: "a", name: "a/s", color: "#111111", points: [0, 1, 2, 3].map((x) => ({ x, y: x * 10 })) },
    { key: "b", name: "b/s", color: "#222222", points: [0, 1, 2, 3].map((x) => ({ x, y: 5 })) },
  ],
  bands: [
    { key: "warmup", label: "warm-up", color: "#fff1c9", fromX: 0, toX: 1 },
    { key: "measure", label: "measured window", color: "#dff2e3", fromX: 1, toX: 3 },
  ],
  ...over,
});

/** The text of every element `<tag …>text</tag>` inside the group with `attr`. */
const groupTexts = (svg: string, attr: string): string[] => {
  const group = new RegExp(`<g ${attr}>(.*?)</g>`).exec(svg)?.[1] ?? "";
  return [...group.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] ?? "");
};

describe("lineChart", () => {
  it("draws a titled chart with both axes, their ticks and labels", () => {
    const svg = lineChart(spec());
    expect(svg).toMatch(/^<svg [^>]*data-chart="demo"/);
    expect(svg).toContain("Demo &lt;chart&gt;");
    expect(groupTexts(svg, 'data-axis="y"')).toEqual(["0", "10", "20", "30", "per second"]);
    expect(groupTexts(svg, 'data-axis="x"')).toEqual(["0", "1", "2", "3", "seconds since start"]);
  });

  it("draws one path per series through every point, scaled to the plot", () => {
    const svg = lineChart(spec());
    const a = /<path data-series="a" d="([^"]*)"/.exec(svg)?.[1];
    expect(a?.match(/[ML]/g)).toEqual(["M", "L", "L", "L"]);
    // y = 0 sits on the plot's bottom edge (34 + 220), the top value on its top edge (34).
    expect(a).toMatch(/^M70\.0,254\.0L/);
    expect(a).toMatch(/L700\.0,34\.0$/);
    expect(svg).toContain('data-series="b"');
  });

  it("shades each band over its stretch of the x axis and names series and bands in the legend", () => {
    const svg = lineChart(spec());
    const warmup = /<rect data-band="warmup" x="([\d.]+)" y="34" width="([\d.]+)"/.exec(svg);
    expect([Number(warmup?.[1]), Number(warmup?.[2])]).toEqual([70, 210]);
    const measure = /<rect data-band="measure" x="([\d.]+)" y="34" width="([\d.]+)"/.exec(svg);
    expect([Number(measure?.[1]), Number(measure?.[2])]).toEqual([280, 420]);
    expect(svg.indexOf("data-band")).toBeLessThan(svg.indexOf("data-series")); // lines drawn over bands
    expect(groupTexts(svg, 'data-legend="demo"')).toEqual(["a/s", "b/s", "warm-up", "measured window"]);
  });

  it("lists a band key once in the legend, and leaves out bands of no width", () => {
    const svg = lineChart(
      spec({
        bands: [
          { key: "measure", label: "measured window", color: "#dff2e3", fromX: 0, toX: 1 },
          { key: "drain", label: "drain", color: "#ece3f5", fromX: 1, toX: 1 },
          { key: "measure", label: "measured window", color: "#dff2e3", fromX: 2, toX: 3 },
        ],
      }),
    );
    expect(svg.match(/data-band="measure"/g)).toHaveLength(2);
    expect(svg).not.toContain('data-band="drain"');
    expect(groupTexts(svg, 'data-legend="demo"')).toEqual(["a/s", "b/s", "measured window"]);
  });

  it("lifts the pen where a series has no value, and shows a lone value as a dot", () => {
    const svg = lineChart(
      spec({
        series: [
          {
            key: "p99",
            name: "p99",
            color: "#d17a1f",
            points: [
              { x: 0, y: undefined },
              { x: 1, y: 4 },
              { x: 2, y: 5 },
              { x: 3, y: undefined },
              { x: 4, y: 6 },
            ],
          },
        ],
      }),
    );
    const d = /<path data-series="p99" d="([^"]*)"/.exec(svg)?.[1] ?? "";
    expect(d.match(/[MLl]/g)).toEqual(["M", "L", "M", "l"]);
  });

  it("says so when there is no data at all", () => {
    const svg = lineChart(spec({ series: [{ key: "a", name: "a", color: "#000", points: [{ x: 1, y: undefined }] }] }));
    expect(svg).toContain('data-empty="true"');
    expect(svg).toContain("Demo &lt;chart&gt;: no data");
  });

  it("draws percentiles on the nines scale", () => {
    const svg = lineChart({
      key: "curve",
      title: "Latency by percentile",
      xLabel: "percentile",
      yLabel: "ms",
      xPercentile: true,
      series: [
        {
          key: "latency",
          name: "latency",
          color: "#000",
          points: [
            { x: 0, y: 1 },
            { x: 50, y: 2 },
            { x: 99.9, y: 9 },
          ],
        },
      ],
    });
    expect(groupTexts(svg, 'data-axis="x"')).toEqual(["0%", "90%", "99%", "99.9%", "percentile"]);
  });
});
