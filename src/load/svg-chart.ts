/**
 * A small inline SVG line chart for the HTML report: no script, no external file, so the report
 * stays one self-contained file that opens anywhere (and in CI artifacts). Every text that may
 * come from input is escaped.
 */

export interface Series {
  readonly name: string;
  readonly color: string;
  /** [x, y]; points with a null y are gaps. */
  readonly points: readonly (readonly [number, number | null])[];
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
}

const MARGIN = { top: 28, right: 16, bottom: 40, left: 64 };

export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 760;
  const height = options.height ?? 260;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const all = options.series.flatMap((series) => series.points);
  const xs = all.map(([x]) => x);
  const ys = all.flatMap(([, y]) => (y === null || !Number.isFinite(y) ? [] : [y]));
  const xMin = xs.length > 0 ? Math.min(...xs) : 0;
  const xMax = xs.length > 0 ? Math.max(...xs) : 1;
  const yMax = niceCeiling(ys.length > 0 ? Math.max(...ys) : 1);
  const sx = (x: number) => MARGIN.left + ((x - xMin) / Math.max(xMax - xMin, 1e-9)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - (y / yMax) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">`,
    `<text x="${MARGIN.left}" y="16" font-size="14" font-weight="bold">${escapeHtml(options.title)}</text>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (yMax * tick) / 4;
    const y = sy(value);
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y.toFixed(1)}" x2="${width - MARGIN.right}" y2="${y.toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end">${formatTick(value)}</text>`,
    );
  }
  for (let tick = 0; tick <= 5; tick++) {
    const value = xMin + ((xMax - xMin) * tick) / 5;
    const x = sx(value);
    parts.push(
      `<text x="${x.toFixed(1)}" y="${height - MARGIN.bottom + 16}" font-size="11" text-anchor="middle">${formatTick(value)}</text>`,
    );
  }
  parts.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 6}" font-size="11" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
    `<text x="12" y="${MARGIN.top + plotH / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${MARGIN.top + plotH / 2})">${escapeHtml(options.yLabel)}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  options.series.forEach((series, index) => {
    let path = "";
    let pen = false;
    for (const [x, y] of series.points) {
      if (y === null || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      path += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
      pen = true;
    }
    if (path) {
      parts.push(`<path d="${path}" fill="none" stroke="${series.color}" stroke-width="1.5"/>`);
    }
    if (series.points.length === 1 && series.points[0]![1] !== null) {
      const [x, y] = series.points[0]!;
      parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y!).toFixed(1)}" r="3" fill="${series.color}"/>`);
    }
    const legendX = width - MARGIN.right - 110 * (options.series.length - index);
    parts.push(
      `<rect x="${legendX}" y="8" width="10" height="10" fill="${series.color}"/>`,
      `<text x="${legendX + 14}" y="17" font-size="11">${escapeHtml(series.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

/** 1, 2 or 5 × a power of ten at or above `value`. */
function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function formatTick(value: number): string {
  if (value >= 1e9) return `${round(value / 1e9)}G`;
  if (value >= 1e6) return `${round(value / 1e6)}M`;
  if (value >= 1e4) return `${round(value / 1e3)}k`;
  return String(round(value));
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}
