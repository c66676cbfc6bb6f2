/** Minimal inline-SVG line charts for the HTML report: no scripts, no external assets. */

/** One line of a chart. */
export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number }[];
}

/** A line chart. With `xPercentile`, x values are percentiles drawn on the "nines" scale (50, 90, 99, 99.9 …). */
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xPercentile?: boolean;
}

const WIDTH = 720;
const HEIGHT = 300;
const PAD = { left: 70, right: 20, top: 34, bottom: 46 };

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

/** Renders `spec` as an `<svg>` element. */
export function lineChart(spec: ChartSpec): string {
  const all = spec.series.flatMap((s) => s.points);
  if (all.length === 0) {
    return `<svg viewBox="0 0 ${WIDTH} 60" width="${WIDTH}" height="60" role="img"><text x="10" y="35" font-size="14">${escapeHtml(spec.title)}: no data</text></svg>`;
  }
  const xOf = spec.xPercentile === true ? nines : (x: number): number => x;
  const xs = all.map((p) => xOf(p.x));
  const xMin = spec.xPercentile === true ? 0 : Math.min(0, ...xs);
  const xMax = Math.max(xMin + 1e-9, ...xs);
  const yTicks = niceTicks(Math.max(...all.map((p) => p.y)));
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const px = (x: number): number => PAD.left + ((xOf(x) - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number): number => PAD.top + plotH - (y / yMax) * plotH;
  const parts: string[] = [];
  parts.push(
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${escapeHtml(spec.title)}</text>`,
  );
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`);
    parts.push(
      `<text x="${PAD.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${label(t)}</text>`,
    );
  }
  const xTicks =
    spec.xPercentile === true
      ? [0, 90, 99, 99.9, 99.99, 99.999, 99.9999].filter((p) => nines(p) <= xMax + 1e-9)
      : niceTicks(xMax - xMin)
          .map((t) => t + xMin)
          .filter((t) => t <= xMax + 1e-9);
  for (const t of xTicks) {
    const x = px(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#f0f0f0"/>`);
    parts.push(
      `<text x="${x}" y="${PAD.top + plotH + 16}" text-anchor="middle" font-size="11">${spec.xPercentile === true ? `${t}%` : label(t)}</text>`,
    );
  }
  parts.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  parts.push(
    `<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle" font-size="12">${escapeHtml(spec.xLabel)}</text>`,
  );
  parts.push(
    `<text x="14" y="${PAD.top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${PAD.top + plotH / 2})">${escapeHtml(spec.yLabel)}</text>`,
  );
  spec.series.forEach((s, k) => {
    const d = s.points.map((p, i) => `${i === 0 ? "M" : "L"}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(
      `<text x="${PAD.left + 8}" y="${PAD.top + 14 + k * 14}" font-size="11" fill="${s.color}">${escapeHtml(s.name)}</text>`,
    );
  });
  return `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">${parts.join("")}</svg>`;
}
