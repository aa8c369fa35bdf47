/**
 * The run summary: the JSON evidence document (kind "load-summary", version 1, schema in
 * docs/load.md), its terminal rendering, and atomic writing (src/durable-file.ts, so a reader
 * never sees half a file even if the process dies mid-write).
 */
import { writeFileDurable } from "../durable-file.js";
import type { ErrorClass } from "./error-class.js";
import type { GeneratorSummary } from "./generator-health.js";
import type { LatencySummary } from "./histogram.js";
import type { Executor, LoadPlan } from "./plan.js";
import type { RunResult } from "./run.js";
import type { AbortedBy } from "./sampler.js";
import { evaluateThreshold, scopeInputs, type ThresholdResult } from "./thresholds.js";
import type { IntervalSample } from "./timeline.js";
import { analyseTrends, type Trend, type Trends } from "./trends.js";

export interface LoadSummary {
  readonly kind: "load-summary";
  readonly version: 1;
  readonly partial: boolean;
  /** True when every threshold passed (true when there are none). */
  readonly ok: boolean;
  /** False when the generator, not the target, was the bottleneck (generator.reasons says why). */
  readonly valid: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly elapsedMs: number;
  readonly target: SummaryTarget;
  readonly executor: Executor;
  readonly requests: number;
  readonly rps: number;
  readonly errors: number;
  readonly errorRate: number | null;
  readonly clientErrors: number;
  readonly dropped: number;
  readonly bytesReceived: number;
  readonly latency: LatencySummary;
  readonly serviceTime: LatencySummary;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly errorsByClass: Readonly<Record<ErrorClass, number>>;
  readonly thresholds: readonly ThresholdResult[];
  /** Scenario file, when the run came from one. */
  readonly scenario?: string;
  /** The same figures per request name ("default" for a URL run). */
  readonly byRequest: Readonly<Record<string, RequestSummary>>;
  /** Set when an abortOnFail threshold stopped the run early. */
  readonly abortedBy?: AbortedBy;
  readonly generator: GeneratorSummary;
  /** Length of one timeline interval, ms. */
  readonly intervalMs: number;
  readonly timeline: readonly IntervalSample[];
  /** Soak analysis: drift of p99, error rate and memory over the run. */
  readonly trends: Trends;
  /** Where targetMemoryBytes in the timeline comes from, and how many readings failed. */
  readonly targetMemory?: { readonly source: string; readonly failedReadings: number };
  readonly histograms: EncodedHistograms;
  /** Set on a summary made by `bulwark load merge` from several generators' summaries. */
  readonly merged?: MergedFrom;
  /** Worker threads the run was split across; absent for a single-threaded run. */
  readonly workers?: number;
}

export interface MergedFrom {
  readonly inputs: readonly {
    readonly file: string;
    readonly startedAt: string;
    readonly executor: Executor;
    readonly requests: number;
    readonly rps: number;
    readonly valid: boolean;
  }[];
}

/** The full latency histograms, HdrHistogram compressed Base64, for exact merging (load merge). */
export interface EncodedHistograms {
  readonly latency: string;
  readonly serviceTime: string;
}

export interface RequestSummary {
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number | null;
  readonly clientErrors: number;
  readonly bytesReceived: number;
  readonly latency: LatencySummary;
  readonly serviceTime: LatencySummary;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly errorsByClass: Readonly<Record<ErrorClass, number>>;
  readonly histograms: EncodedHistograms;
}

/** What was loaded; `insecure` marks a run that did not verify the target's certificate. */
export interface SummaryTarget {
  readonly url: string;
  readonly method: string;
  readonly insecure?: true;
}

export function summaryTarget(plan: LoadPlan): SummaryTarget {
  return {
    url: plan.request.displayUrl,
    method: plan.request.method,
    ...(plan.tls?.insecure ? { insecure: true as const } : {}),
  };
}

function requestSummary(metrics: RunResult["metrics"]): RequestSummary {
  return {
    requests: metrics.requests,
    errors: metrics.errors,
    errorRate: metrics.requests === 0 ? null : metrics.errors / metrics.requests,
    clientErrors: metrics.clientErrors,
    bytesReceived: metrics.bytesReceived,
    latency: metrics.corrected.summary(),
    serviceTime: metrics.serviceTime.summary(),
    statusCodes: Object.fromEntries(
      [...metrics.statusCodes].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v]),
    ),
    errorsByClass: { ...metrics.errorsByClass },
    histograms: { latency: metrics.corrected.encode(), serviceTime: metrics.serviceTime.encode() },
  };
}

export function buildSummary(plan: LoadPlan, result: RunResult): LoadSummary {
  const { metrics } = result;
  const rps = round(metrics.requests / Math.max(result.elapsedMs / 1000, 0.001), 2);
  const errorRate = metrics.requests === 0 ? null : metrics.errors / metrics.requests;
  const latency = metrics.corrected.summary();
  const seconds = Math.max(result.elapsedMs / 1000, 0.001);
  const trends = analyseTrends(result.sampled.timeline, result.memorySource !== undefined);
  const thresholds = plan.thresholds.map((threshold, index) => {
    const windowed = result.sampled.windowResults[index];
    if (windowed) return { ...windowed, ...(threshold.scope ? { scope: threshold.scope } : {}) };
    const scope = threshold.scope === undefined ? metrics : result.byName.get(threshold.scope)!;
    const evaluated = evaluateThreshold(threshold, {
      ...scopeInputs(scope, seconds, metrics.dropped),
      drifting: trends.drifting.length,
    });
    return threshold.scope ? { ...evaluated, scope: threshold.scope } : evaluated;
  });
  return {
    kind: "load-summary",
    version: 1,
    partial: result.partial,
    ok: thresholds.every((threshold) => threshold.ok),
    valid: result.sampled.generator.valid,
    startedAt: result.startedAt.toISOString(),
    finishedAt: result.finishedAt.toISOString(),
    elapsedMs: Math.round(result.elapsedMs),
    target: summaryTarget(plan),
    executor: plan.executor,
    requests: metrics.requests,
    rps,
    errors: metrics.errors,
    errorRate,
    clientErrors: metrics.clientErrors,
    dropped: metrics.dropped,
    bytesReceived: metrics.bytesReceived,
    latency,
    serviceTime: metrics.serviceTime.summary(),
    statusCodes: Object.fromEntries(
      [...metrics.statusCodes].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v]),
    ),
    errorsByClass: { ...metrics.errorsByClass },
    thresholds,
    ...(plan.scenario ? { scenario: plan.scenario.file } : {}),
    byRequest: Object.fromEntries([...result.byName].map(([name, named]) => [name, requestSummary(named)])),
    ...(result.abortedBy ? { abortedBy: result.abortedBy } : {}),
    generator: result.sampled.generator,
    ...(result.workers > 1 ? { workers: result.workers } : {}),
    intervalMs: result.intervalMs,
    timeline: result.sampled.timeline,
    trends,
    histograms: { latency: metrics.corrected.encode(), serviceTime: metrics.serviceTime.encode() },
    ...(result.memorySource === undefined
      ? {}
      : { targetMemory: { source: result.memorySource, failedReadings: result.sampled.memoryErrors } }),
  };
}

/** One line saying how load was offered, for the summary and the reports. */
export function describeExecutor(executor: Executor): string {
  return executor.kind === "constant-arrival-rate"
    ? `open model, ${executor.rate}/s for ${executor.durationMs / 1000}s, ≤${executor.connections} connections`
    : executor.kind === "constant-vus"
      ? `closed model, ${executor.vus} VU${executor.vus === 1 ? "" : "s"} for ${executor.durationMs / 1000}s`
      : executor.kind === "ramping-vus"
        ? `closed model, ramping ${executor.startVus}→${executor.stages.map((stage) => stage.target).join("→")} VUs over ${executor.durationMs / 1000}s`
        : `open model, ramping ${executor.startRate}→${executor.stages.map((stage) => stage.target).join("→")}/s over ${executor.durationMs / 1000}s, ≤${executor.connections} connections`;
}

export function renderSummary(summary: LoadSummary): string {
  const lines: string[] = [];
  const threads = summary.workers ? `, ${summary.workers} worker threads` : "";
  const model = `${describeExecutor(summary.executor)}${threads}`;
  const stopped = summary.abortedBy
    ? ` — STOPPED EARLY at ${(summary.abortedBy.atMs / 1000).toFixed(1)}s: ${summary.abortedBy.expression} failed (abortOnFail)`
    : summary.partial
      ? " — PARTIAL (interrupted)"
      : "";
  lines.push(`load ${summary.target.method} ${summary.target.url} (${model})${stopped}`);
  if (summary.merged) {
    lines.push(
      `  merged    ${summary.merged.inputs.length} generators: ${summary.merged.inputs.map((input) => `${input.file} (${input.rps}/s)`).join(", ")}`,
    );
  }
  lines.push(
    `  requests  ${summary.requests} in ${(summary.elapsedMs / 1000).toFixed(1)}s, ${summary.rps}/s, ${formatBytes(summary.bytesReceived)} received`,
  );
  const classes = Object.entries(summary.errorsByClass)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${name} ${count}`)
    .join(", ");
  const rate = summary.errorRate === null ? "n/a" : `${round(summary.errorRate * 100, 3)}%`;
  lines.push(`  errors    ${summary.errors} (${rate})${classes ? ` — ${classes}` : ""}`);
  if (summary.clientErrors > 0) lines.push(`  4xx       ${summary.clientErrors} (not counted as errors)`);
  const codes = Object.entries(summary.statusCodes)
    .map(([code, count]) => `${code}×${count}`)
    .join(" ");
  if (codes) lines.push(`  statuses  ${codes}`);
  if (summary.dropped > 0) {
    lines.push(
      `  DROPPED   ${summary.dropped} iterations were never sent: the generator could not hold the rate with these connections`,
    );
  } else lines.push("  dropped   0");
  lines.push(`  latency   ${formatLatency(summary.latency)}   (from intended send time)`);
  lines.push(`  service   ${formatLatency(summary.serviceTime)}   (from actual send, uncorrected)`);
  const names = Object.entries(summary.byRequest);
  if (summary.scenario !== undefined && names.length > 0) {
    lines.push("  by request");
    for (const [name, figures] of names) {
      lines.push(
        `    ${name}  ${figures.requests} requests, ${figures.errors} errors, ${formatLatency(figures.latency)}`,
      );
    }
  }
  if (summary.thresholds.length > 0) {
    lines.push("  thresholds");
    for (const threshold of summary.thresholds) {
      const actual = threshold.actual === null ? "no data" : String(round(threshold.actual, 4));
      const window = threshold.window
        ? `, worst window ${(threshold.window.worstStartMs / 1000).toFixed(0)}–${(threshold.window.worstEndMs / 1000).toFixed(0)}s, ${threshold.window.failed} of ${threshold.window.windows} windows failed${threshold.window.partial ? ", run shorter than one window" : ""}`
        : "";
      lines.push(
        `    ${threshold.ok ? "pass" : "FAIL"}  ${threshold.expression}  (actual ${actual}${window})`,
      );
    }
  }
  lines.push(`  trends    ${formatTrends(summary.trends)}`);
  if (summary.trends.drifting.length > 0) {
    lines.push(
      `  DRIFT     ${summary.trends.drifting.join(", ")} rose steadily over the run (least-squares fit; docs/load.md, "Soak analysis")`,
    );
  }
  if (summary.targetMemory && summary.targetMemory.failedReadings > 0) {
    lines.push(
      `  memory    ${summary.targetMemory.failedReadings} readings of ${summary.targetMemory.source} failed`,
    );
  }
  const generator = summary.generator;
  if (generator.workers) {
    lines.push(`  generator ${generator.workers.length} worker threads; per worker:`);
    for (const worker of generator.workers) {
      lines.push(
        `            worker ${worker.worker}: cpu ${percent(worker.cpu)} of one core, event loop busy ${percent(worker.utilization)}, lag p99 ${round(worker.lagP99Ms, 1)}ms max ${round(worker.lagMaxMs, 1)}ms, bound in ${worker.boundIntervals} intervals${worker.valid ? "" : " — BOTTLENECK"}`,
      );
    }
  } else {
    lines.push(
      `  generator cpu ${percent(generator.cpu.mean)} of one core (max ${percent(generator.cpu.max)}), event loop busy ${percent(generator.eventLoop.utilization)}, lag p99 ${round(generator.eventLoop.lagP99Ms, 1)}ms max ${round(generator.eventLoop.lagMaxMs, 1)}ms`,
    );
  }
  if (!generator.valid) {
    lines.push("  INVALID   the generator, not the target, was the bottleneck:");
    for (const reason of generator.reasons) lines.push(`            - ${reason}`);
    lines.push(
      "            latency is overstated and throughput understated; rerun with less load per process",
    );
  }
  return lines.join("\n");
}

function formatLatency(latency: LatencySummary): string {
  const ms = (value: number | null) => (value === null ? "n/a" : `${round(value, 2)}ms`);
  return `p50 ${ms(latency.p50)}  p90 ${ms(latency.p90)}  p95 ${ms(latency.p95)}  p99 ${ms(latency.p99)}  max ${ms(latency.max)}`;
}

function formatTrends(trends: Trends): string {
  const show = (name: string, value: Trend | undefined, relative: boolean, flag = true) => {
    if (!value) return [];
    if (!value.judged) return [`${name} n/a (${value.samples} intervals, need 10)`];
    const change =
      value.change === null
        ? "from 0"
        : relative
          ? `${value.change >= 0 ? "+" : ""}${round(value.change * 100, 1)}%`
          : `${value.change >= 0 ? "+" : ""}${round(value.change * 100, 2)}pp`;
    return [`${name} ${change}${flag && value.drift ? " DRIFT" : ""}`];
  };
  return [
    ...show("p99", trends.p99, true),
    ...show("error rate", trends.errorRate, false),
    ...show("target memory", trends.targetMemory, true),
    ...show("generator memory", trends.generatorMemory, true, false),
  ].join(", ");
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 2) return `${round(bytes / 1024 ** 2, 1)} MiB`;
  if (bytes >= 1024) return `${round(bytes / 1024, 1)} KiB`;
  return `${bytes} B`;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Writes JSON to a temp file in the same directory, then renames it over `file`. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Temp file in the same directory, fsync, rename: a reader sees the old file or the whole new
 * one, and a crash right after the rename cannot leave an empty file behind.
 */
export function writeFileAtomic(file: string, text: string): void {
  writeFileDurable(file, text, { mode: 0o644, createParents: true });
}
