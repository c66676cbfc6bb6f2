/**
 * Minimal inline-SVG line charts for the HTML report: no scripts, no external assets. Every
 * part carries a `data-*` attribute (`data-chart`, `data-axis`, `data-series`, `data-band`,
 * `data-legend`) so that tests, and readers of the file, can find it.
 */

/** One line of a chart. A point whose `y` is undefined breaks the line (no data there). */
export interface Series {
  /** Short key, unique within the chart (`data-series`). */
  key: string;
  /** Legend text. */
  name: string;
  color: string;
  points: { x: number; y: number | undefined }[];
}

/** A shaded stretch of the x axis (a phase of the run), drawn behind the lines and named in the legend. */
export interface Band {
  /** Short key (`data-band`); bands with the same key share one legend entry. */
  key: string;
  label: string;
  color: string;
  fromX: number;
  toX: number;
}

/** A line chart. With `xPercentile`, x values are percentiles drawn on the "nines" scale (50, 90, 99, 99.9 …). */
export interface ChartSpec {
  /** Short key (`data-chart`), unique within a report. */
  key: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xPercentile?: boolean;
  bands?: Band[];
}

const WIDTH = 720;
const PLOT_HEIGHT = 220;
const PAD = { left: 70, right: 20, top: 34, bottom: 46 };
const LEGEND_ROW = 18;

/** Escapes text for HTML and SVG. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Round tick values covering 0…max. */
function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 0.001; v += step) ticks.push(Number(v.toPrecision(12)));
  if ((ticks[ticks.length - 1] ?? 0) < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

/** Percentile → position on the nines scale: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3. */
const nines = (percentile: number): number => -Math.log10(Math.max(1e-7, 1 - percentile / 100));

function label(v: number): string {
  if (v >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (v >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return `${Number(v.toPrecision(4))}`;
}

/** An SVG path through the points, lifted at undefined values; single points become dots. */
function pathOf(points: Series["points"], px: (x: number) => number, py: (y: number) => number): string {
  let d = "";
  let pen = false;
  points.forEach((p, i) => {
    if (p.y === undefined) {
      pen = false;
      return;
    }
    const xy = `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`;
    const alone = !pen && (points[i + 1]?.y ?? undefined) === undefined;
    // A lone point would draw nothing: a zero-length segment with round caps shows it as a dot.
    d += pen ? `L${xy}` : alone ? `M${xy}l0.01,0` : `M${xy}`;
    pen = true;
  });
  return d;
}

/** Legend entries laid out in rows under the plot; returns the SVG and the rows used. */
function legend(
  items: { swatch: (x: number, y: number) => string; text: string }[],
  top: number,
): { svg: string; rows: number } {
  const parts: string[] = [];
  let x = PAD.left;
  let row = 0;
  for (const item of items) {
    const width = 28 + item.text.length * 6.5;
    if (x > PAD.left && x + width > WIDTH - PAD.right) {
      x = PAD.left;
      row += 1;
    }
    const y = top + row * LEGEND_ROW;
    parts.push(item.swatch(x, y));
    parts.push(
      `<text x="${(x + 22).toFixed(1)}" y="${y}" dominant-baseline="middle" font-size="11">${escapeHtml(item.text)}</text>`,
    );
    x += width + 12;
  }
  return { svg: parts.join(""), rows: items.length === 0 ? 0 : row + 1 };
}

/** Renders `spec` as an `<svg>` element: axes with ticks, phase bands, lines, and a legend of both. */
export function lineChart(spec: ChartSpec): string {
  const all = spec.series.flatMap((s) => s.points.flatMap((p) => (p.y === undefined ? [] : [{ x: p.x, y: p.y }])));
  const open = `data-chart="${escapeHtml(spec.key)}" role="img" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif"`;
  if (all.length === 0) {
    return `<svg viewBox="0 0 ${WIDTH} 60" width="${WIDTH}" height="60" ${open} data-empty="true"><text x="10" y="35" font-size="14">${escapeHtml(spec.title)}: no data</text></svg>`;
  }
  const xOf = spec.xPercentile === true ? nines : (x: number): number => x;
  const bands = spec.bands ?? [];
  const xs = [...all.map((p) => xOf(p.x)), ...bands.flatMap((b) => [b.fromX, b.toX])];
  const xMin = spec.xPercentile === true ? 0 : Math.min(0, ...xs);
  const xMax = Math.max(xMin + 1e-9, ...xs);
  const yTicks = niceTicks(Math.max(...all.map((p) => p.y)));
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = PLOT_HEIGHT;
  const plotBottom = PAD.top + plotH;
  const px = (x: number): number => PAD.left + ((xOf(x) - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number): number => plotBottom - (y / yMax) * plotH;
  const parts: string[] = [];
  parts.push(
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${escapeHtml(spec.title)}</text>`,
  );
  // Bands first, so that grid and lines are drawn over them.
  const drawn: Band[] = [];
  for (const b of bands) {
    const x1 = Math.max(PAD.left, px(b.fromX));
    const x2 = Math.min(PAD.left + plotW, px(b.toX));
    if (x2 <= x1) continue;
    drawn.push(b);
    parts.push(
      `<rect data-band="${escapeHtml(b.key)}" x="${x1.toFixed(1)}" y="${PAD.top}" width="${(x2 - x1).toFixed(1)}" height="${plotH}" fill="${b.color}"><title>${escapeHtml(b.label)}</title></rect>`,
    );
  }
  const yAxis: string[] = [];
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    yAxis.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`);
    yAxis.push(
      `<text x="${PAD.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${label(t)}</text>`,
    );
  }
  yAxis.push(
    `<text x="14" y="${PAD.top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${PAD.top + plotH / 2})">${escapeHtml(spec.yLabel)}</text>`,
  );
  parts.push(`<g data-axis="y">${yAxis.join("")}</g>`);
  const xTicks =
    spec.xPercentile === true
      ? [0, 90, 99, 99.9, 99.99, 99.999, 99.9999].filter((p) => nines(p) <= xMax + 1e-9)
      : niceTicks(xMax - xMin)
          .map((t) => t + xMin)
          .filter((t) => t <= xMax + 1e-9);
  const xAxis: string[] = [];
  for (const t of xTicks) {
    const x = px(t).toFixed(1);
    xAxis.push(`<line x1="${x}" x2="${x}" y1="${PAD.top}" y2="${plotBottom}" stroke="#f0f0f0"/>`);
    xAxis.push(
      `<text x="${x}" y="${plotBottom + 16}" text-anchor="middle" font-size="11">${spec.xPercentile === true ? `${t}%` : label(t)}</text>`,
    );
  }
  xAxis.push(
    `<text x="${PAD.left + plotW / 2}" y="${plotBottom + 36}" text-anchor="middle" font-size="12">${escapeHtml(spec.xLabel)}</text>`,
  );
  parts.push(`<g data-axis="x">${xAxis.join("")}</g>`);
  parts.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (const s of spec.series) {
    parts.push(
      `<path data-series="${escapeHtml(s.key)}" d="${pathOf(s.points, px, py)}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linecap="round"/>`,
    );
  }
  const bandItems = [...new Map(drawn.map((b) => [b.key, b])).values()];
  const items = [
    ...spec.series.map((s) => ({
      swatch: (x: number, y: number) =>
        `<line x1="${x.toFixed(1)}" x2="${(x + 16).toFixed(1)}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="3"/>`,
      text: s.name,
    })),
    ...bandItems.map((b) => ({
      swatch: (x: number, y: number) =>
        `<rect x="${x.toFixed(1)}" y="${y - 6}" width="16" height="12" fill="${b.color}" stroke="#bbb"/>`,
      text: b.label,
    })),
  ];
  const key = legend(items, plotBottom + PAD.bottom + 8);
  parts.push(`<g data-legend="${escapeHtml(spec.key)}">${key.svg}</g>`);
  const height = plotBottom + PAD.bottom + key.rows * LEGEND_ROW + 4;
  return `<svg viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" ${open}>${parts.join("")}</svg>`;
}
