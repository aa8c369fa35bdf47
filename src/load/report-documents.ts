/**
 * Human reports of a run or a breaking-point search (`--report FILE.md|FILE.html`): Markdown
 * for pull requests and wikis, and one self-contained HTML file (inline CSS and SVG charts, no
 * script, nothing fetched) with latency percentiles, throughput, errors and generator health
 * over time. Both are rendered from the JSON summary, so they never say more than the evidence.
 */
import { extname } from "node:path";
import { BulwarkError } from "../errors.js";
import type { LimitSummary } from "./find-limit.js";
import type { LatencySummary } from "./histogram.js";
import { describeExecutor, type LoadSummary } from "./report.js";
import { escapeHtml, lineChart } from "./svg-chart.js";
import type { Trend } from "./trends.js";

/** Markdown timelines longer than this show every Nth interval (the HTML charts show all). */
const MAX_TABLE_ROWS = 60;

export type ReportFormat = "md" | "html";

export function reportFormat(file: string): ReportFormat {
  const extension = extname(file).toLowerCase();
  if (extension === ".md" || extension === ".markdown") return "md";
  if (extension === ".html" || extension === ".htm") return "html";
  throw new BulwarkError(
    "usage",
    `--report ${JSON.stringify(file)}: expected a file ending in .md or .html; see \`bulwark load --help\``,
  );
}

export function renderReport(document: LoadSummary | LimitSummary, format: ReportFormat): string {
  const markdown = document.kind === "load-limit" ? limitMarkdown(document) : summaryMarkdown(document);
  return format === "md" ? markdown : html(document);
}

// ---------------------------------------------------------------- Markdown

function summaryMarkdown(summary: LoadSummary): string {
  const out: string[] = [];
  out.push(`# Load test: ${summary.target.method} ${summary.target.url}`, "");
  out.push(
    `- ${describeExecutor(summary.executor)}${summary.workers ? `, ${summary.workers} worker threads` : ""}`,
  );
  out.push(`- started ${summary.startedAt}, finished ${summary.finishedAt} (${seconds(summary.elapsedMs)})`);
  out.push(`- result: **${verdict(summary)}**`);
  if (summary.abortedBy)
    out.push(
      `- stopped early at ${seconds(summary.abortedBy.atMs)}: \`${summary.abortedBy.expression}\` failed`,
    );
  if (!summary.valid) {
    out.push("- **INVALID: the generator, not the target, was the bottleneck**");
    for (const reason of summary.generator.reasons) out.push(`  - ${reason}`);
  }
  out.push("", "## Totals", "");
  out.push(
    table(
      ["requests", "rps", "errors", "error rate", "4xx", "dropped", "received"],
      [
        [
          summary.requests,
          summary.rps,
          summary.errors,
          rate(summary.errorRate),
          summary.clientErrors,
          summary.dropped,
          `${summary.bytesReceived} B`,
        ],
      ],
    ),
  );
  out.push("", "## Latency (ms)", "");
  out.push(
    table(
      ["", "p50", "p90", "p95", "p99", "max"],
      [
        latencyRow("corrected (from intended send)", summary.latency),
        latencyRow("service time (uncorrected)", summary.serviceTime),
      ],
    ),
  );
  const errorClasses = Object.entries(summary.errorsByClass).filter(([, count]) => count > 0);
  if (errorClasses.length > 0 || Object.keys(summary.statusCodes).length > 0) {
    out.push("", "## Statuses and errors", "");
    out.push(
      `statuses: ${
        Object.entries(summary.statusCodes)
          .map(([code, count]) => `${code}×${count}`)
          .join(", ") || "none"
      }; errors by class: ${errorClasses.map(([name, count]) => `${name} ${count}`).join(", ") || "none"}`,
    );
  }
  if (summary.thresholds.length > 0) {
    out.push("", "## Thresholds", "");
    out.push(
      table(
        ["threshold", "result", "actual", "window"],
        summary.thresholds.map((result) => [
          `\`${result.expression}\``,
          result.ok ? "pass" : "**FAIL**",
          result.actual ?? "no data",
          result.window
            ? `worst ${seconds(result.window.worstStartMs)}–${seconds(result.window.worstEndMs)}, ${result.window.failed}/${result.window.windows} failed`
            : "",
        ]),
      ),
    );
  }
  const names = Object.entries(summary.byRequest);
  if (names.length > 1) {
    out.push("", "## By request", "");
    out.push(
      table(
        ["name", "requests", "errors", "p50", "p95", "p99", "max"],
        names.map(([name, figures]) => [
          name,
          figures.requests,
          figures.errors,
          figures.latency.p50,
          figures.latency.p95,
          figures.latency.p99,
          figures.latency.max,
        ]),
      ),
    );
  }
  out.push("", "## Generator health", "");
  const generator = summary.generator;
  out.push(
    `${generator.workers ? `busiest of ${generator.workers.length} worker threads: ` : ""}cpu ${pct(generator.cpu.mean)} of one core (max interval ${pct(generator.cpu.max)}), event loop busy ${pct(generator.eventLoop.utilization)}, lag p99 ${generator.eventLoop.lagP99Ms} ms, max ${generator.eventLoop.lagMaxMs} ms; ${generator.boundIntervals} of ${generator.intervals} intervals generator-bound; ${generator.valid ? "valid" : "**invalid**"}`,
  );
  if (generator.workers) {
    out.push(
      "",
      table(
        [
          "worker",
          "cpu (one core)",
          "event loop busy",
          "lag p99 ms",
          "lag max ms",
          "bound intervals",
          "verdict",
        ],
        generator.workers.map((worker) => [
          worker.worker,
          pct(worker.cpu),
          pct(worker.utilization),
          worker.lagP99Ms,
          worker.lagMaxMs,
          worker.boundIntervals,
          worker.valid ? "ok" : "**bottleneck**",
        ]),
      ),
    );
  }
  out.push("", "## Trends", "");
  out.push(
    table(
      ["series", "start", "end", "change", "r²", "drift"],
      [
        trendRow("p99 (ms)", summary.trends.p99),
        trendRow("error rate", summary.trends.errorRate),
        ...(summary.trends.targetMemory
          ? [trendRow("target memory (bytes)", summary.trends.targetMemory)]
          : []),
        trendRow("generator memory (bytes)", summary.trends.generatorMemory),
      ],
    ),
  );
  const stride = Math.max(1, Math.ceil(summary.timeline.length / MAX_TABLE_ROWS));
  out.push(
    "",
    `## Timeline (${summary.intervalMs / 1000} s intervals${stride > 1 ? `, every ${stride}th shown` : ""})`,
    "",
  );
  out.push(
    table(
      [
        "t (s)",
        "rps",
        "p50",
        "p95",
        "p99",
        "errors",
        "dropped",
        "cpu",
        "loop",
        ...(summary.targetMemory ? ["target MB"] : []),
      ],
      summary.timeline
        .filter((_, index) => index % stride === 0)
        .map((sample) => [
          seconds(sample.endMs),
          sample.rps,
          sample.latency.p50,
          sample.latency.p95,
          sample.latency.p99,
          sample.errors,
          sample.dropped,
          pct(sample.generator.cpu),
          pct(sample.generator.utilization),
          ...(summary.targetMemory
            ? [sample.targetMemoryBytes == null ? "n/a" : (sample.targetMemoryBytes / 1024 ** 2).toFixed(1)]
            : []),
        ]),
    ),
  );
  return `${out.join("\n")}\n`;
}

function limitMarkdown(limit: LimitSummary): string {
  const out: string[] = [];
  out.push(`# Breaking point: ${limit.target.method} ${limit.target.url}`, "");
  out.push(
    `- steps of ${limit.search.stepRate}/s from ${limit.search.startRate}/s to ${limit.search.maxRate}/s, ${seconds(limit.search.stepDurationMs)} each`,
  );
  out.push(`- SLO: ${limit.slo.map((item) => `\`${item}\``).join(", ")}`);
  out.push(`- started ${limit.startedAt}, finished ${limit.finishedAt}`);
  out.push(
    `- **limit: ${limit.limit === null ? "none" : `${limit.limit}/s`}** (${limit.outcome}${limit.breakingRate === null ? "" : `, breaks at ${limit.breakingRate}/s`})`,
  );
  out.push("", "## Steps", "");
  out.push(
    table(
      ["rate/s", "achieved/s", "p50", "p95", "p99", "errors", "dropped", "verdict"],
      limit.steps.map((step) => [
        step.rate,
        step.achievedRps,
        step.latency.p50,
        step.latency.p95,
        step.latency.p99,
        step.errors,
        step.dropped,
        !step.valid
          ? `generator-bound: ${step.broke.join("; ")}`
          : step.sustainable
            ? "holds"
            : `breaks: ${step.broke.join("; ")}`,
      ]),
    ),
  );
  return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------- HTML

function html(document: LoadSummary | LimitSummary): string {
  const title =
    document.kind === "load-limit"
      ? `Breaking point: ${document.target.method} ${document.target.url}`
      : `Load test: ${document.target.method} ${document.target.url}`;
  const charts = document.kind === "load-limit" ? limitCharts(document) : summaryCharts(document);
  // The tables are the Markdown tables rendered to HTML, so both formats carry the same figures.
  const body = markdownToHtml(
    document.kind === "load-limit" ? limitMarkdown(document) : summaryMarkdown(document),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,sans-serif;margin:2rem auto;max-width:960px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
code{background:#f4f4f4;padding:0 .2rem}.charts svg{display:block;margin:1rem 0;max-width:100%;height:auto}
</style></head><body>
${body}
<h2>Charts</h2><div class="charts">${charts.join("\n")}</div>
</body></html>
`;
}

function summaryCharts(summary: LoadSummary): string[] {
  const t = (ms: number) => ms / 1000;
  const timeline = summary.timeline;
  const charts = [
    lineChart({
      title: "Corrected latency per interval",
      xLabel: "seconds",
      yLabel: "ms",
      series: [
        { name: "p50", color: "#2b8a3e", points: timeline.map((s) => [t(s.endMs), s.latency.p50] as const) },
        { name: "p95", color: "#e67700", points: timeline.map((s) => [t(s.endMs), s.latency.p95] as const) },
        { name: "p99", color: "#c92a2a", points: timeline.map((s) => [t(s.endMs), s.latency.p99] as const) },
      ],
    }),
    lineChart({
      title: "Throughput",
      xLabel: "seconds",
      yLabel: "requests/s",
      series: [{ name: "rps", color: "#1864ab", points: timeline.map((s) => [t(s.endMs), s.rps] as const) }],
    }),
    lineChart({
      title: "Errors and dropped iterations per interval",
      xLabel: "seconds",
      yLabel: "count",
      series: [
        { name: "errors", color: "#c92a2a", points: timeline.map((s) => [t(s.endMs), s.errors] as const) },
        { name: "dropped", color: "#862e9c", points: timeline.map((s) => [t(s.endMs), s.dropped] as const) },
      ],
    }),
    lineChart({
      title: "Generator health",
      xLabel: "seconds",
      yLabel: "% of one core / of time",
      series: [
        {
          name: "cpu %",
          color: "#495057",
          points: timeline.map((s) => [t(s.endMs), s.generator.cpu * 100] as const),
        },
        {
          name: "loop busy %",
          color: "#f08c00",
          points: timeline.map((s) => [t(s.endMs), s.generator.utilization * 100] as const),
        },
      ],
    }),
  ];
  if (summary.targetMemory) {
    charts.push(
      lineChart({
        title: `Target memory (${summary.targetMemory.source})`,
        xLabel: "seconds",
        yLabel: "MiB",
        series: [
          {
            name: "memory",
            color: "#0b7285",
            points: timeline.map(
              (s) =>
                [t(s.endMs), s.targetMemoryBytes == null ? null : s.targetMemoryBytes / 1024 ** 2] as const,
            ),
          },
        ],
      }),
    );
  }
  return charts;
}

function limitCharts(limit: LimitSummary): string[] {
  return [
    lineChart({
      title: "Latency per step",
      xLabel: "offered rate (requests/s)",
      yLabel: "ms",
      series: [
        {
          name: "p50",
          color: "#2b8a3e",
          points: limit.steps.map((step) => [step.rate, step.latency.p50] as const),
        },
        {
          name: "p95",
          color: "#e67700",
          points: limit.steps.map((step) => [step.rate, step.latency.p95] as const),
        },
        {
          name: "p99",
          color: "#c92a2a",
          points: limit.steps.map((step) => [step.rate, step.latency.p99] as const),
        },
      ],
    }),
    lineChart({
      title: "Achieved against offered throughput",
      xLabel: "offered rate (requests/s)",
      yLabel: "requests/s",
      series: [
        {
          name: "offered",
          color: "#adb5bd",
          points: limit.steps.map((step) => [step.rate, step.rate] as const),
        },
        {
          name: "achieved",
          color: "#1864ab",
          points: limit.steps.map((step) => [step.rate, step.achievedRps] as const),
        },
      ],
    }),
  ];
}

/**
 * Renders the small Markdown subset the reports above produce (headings, bullets, tables, bold,
 * code), escaping everything first: report text includes URLs and expressions from input.
 */
function markdownToHtml(markdown: string): string {
  const inline = (text: string) =>
    escapeHtml(text)
      .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/`(.+?)`/g, "<code>$1</code>");
  const lines = markdown.split("\n");
  const out: string[] = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index]!;
    if (line.startsWith("# ")) out.push(`<h1>${inline(line.slice(2))}</h1>`);
    else if (line.startsWith("## ")) out.push(`<h2>${inline(line.slice(3))}</h2>`);
    else if (line.startsWith("|")) {
      const rows: string[][] = [];
      while (index < lines.length && lines[index]!.startsWith("|")) {
        rows.push(splitRow(lines[index]!));
        index++;
      }
      const [head, , ...rest] = rows;
      out.push(
        `<table><thead><tr>${head!.map((cell) => `<th>${inline(cell)}</th>`).join("")}</tr></thead><tbody>${rest
          .map((row) => `<tr>${row.map((cell) => `<td>${inline(cell)}</td>`).join("")}</tr>`)
          .join("")}</tbody></table>`,
      );
      continue;
    } else if (/^\s*- /.test(line)) {
      const items: string[] = [];
      while (index < lines.length && /^\s*- /.test(lines[index]!)) {
        items.push(`<li>${inline(lines[index]!.replace(/^\s*- /, ""))}</li>`);
        index++;
      }
      out.push(`<ul>${items.join("")}</ul>`);
      continue;
    } else if (line.trim() !== "") out.push(`<p>${inline(line)}</p>`);
    index++;
  }
  return out.join("\n");
}

function splitRow(line: string): string[] {
  return line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replaceAll("\\|", "|"));
}

// ---------------------------------------------------------------- helpers

function table(head: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cell = (value: unknown) =>
    (value === null || value === undefined ? "n/a" : String(value))
      .replaceAll("|", "\\|")
      .replaceAll("\n", " ");
  return [
    `| ${head.map(cell).join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ].join("\n");
}

function latencyRow(name: string, latency: LatencySummary): unknown[] {
  return [name, latency.p50, latency.p90, latency.p95, latency.p99, latency.max];
}

function trendRow(name: string, trend: Trend): unknown[] {
  if (!trend.judged) return [name, "n/a", "n/a", `too few intervals (${trend.samples})`, "n/a", "no"];
  return [name, trend.start, trend.end, trend.change, trend.r2, trend.drift ? "**yes**" : "no"];
}

function verdict(summary: LoadSummary): string {
  const thresholds = summary.thresholds.length === 0 ? "no thresholds" : summary.ok ? "PASS" : "FAIL";
  return `${thresholds}${summary.partial ? " (partial run)" : ""}`;
}

function rate(value: number | null): string {
  return value === null ? "n/a" : `${Math.round(value * 100_000) / 1000}%`;
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}
