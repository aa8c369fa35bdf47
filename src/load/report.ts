/**
 * The run summary: the JSON evidence document (kind "load-summary", version 1, schema in
 * docs/load.md), its terminal rendering, and atomic writing (temp file + rename, so a reader
 * never sees half a file even if the process dies mid-write).
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ErrorClass } from "./error-class.js";
import type { LatencySummary } from "./histogram.js";
import type { Executor, LoadPlan } from "./plan.js";
import type { RunResult } from "./run.js";
import { evaluateThreshold, type ThresholdResult } from "./thresholds.js";

export interface LoadSummary {
  readonly kind: "load-summary";
  readonly version: 1;
  readonly partial: boolean;
  /** True when every threshold passed (true when there are none). */
  readonly ok: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly elapsedMs: number;
  readonly target: { readonly url: string; readonly method: string };
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
  };
}

export function buildSummary(plan: LoadPlan, result: RunResult): LoadSummary {
  const { metrics } = result;
  const rps = round(metrics.requests / Math.max(result.elapsedMs / 1000, 0.001), 2);
  const errorRate = metrics.requests === 0 ? null : metrics.errors / metrics.requests;
  const latency = metrics.corrected.summary();
  const thresholds = plan.thresholds.map((threshold) =>
    evaluateThreshold(threshold, {
      latency,
      percentileMs: (percentile) => metrics.corrected.percentileMs(percentile),
      errorRate,
      rps,
      dropped: metrics.dropped,
    }),
  );
  return {
    kind: "load-summary",
    version: 1,
    partial: result.partial,
    ok: thresholds.every((threshold) => threshold.ok),
    startedAt: result.startedAt.toISOString(),
    finishedAt: result.finishedAt.toISOString(),
    elapsedMs: Math.round(result.elapsedMs),
    target: { url: plan.request.displayUrl, method: plan.request.method },
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
  };
}

export function renderSummary(summary: LoadSummary): string {
  const lines: string[] = [];
  const executor = summary.executor;
  const model =
    executor.kind === "constant-arrival-rate"
      ? `open model, ${executor.rate}/s for ${executor.durationMs / 1000}s, ≤${executor.connections} connections`
      : executor.kind === "constant-vus"
        ? `closed model, ${executor.vus} VU${executor.vus === 1 ? "" : "s"} for ${executor.durationMs / 1000}s`
        : executor.kind === "ramping-vus"
          ? `closed model, ramping ${executor.startVus}→${executor.stages.map((stage) => stage.target).join("→")} VUs over ${executor.durationMs / 1000}s`
          : `open model, ramping ${executor.startRate}→${executor.stages.map((stage) => stage.target).join("→")}/s over ${executor.durationMs / 1000}s, ≤${executor.connections} connections`;
  lines.push(
    `load ${summary.target.method} ${summary.target.url} (${model})${summary.partial ? " — PARTIAL (interrupted)" : ""}`,
  );
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
      lines.push(`    ${threshold.ok ? "pass" : "FAIL"}  ${threshold.expression}  (actual ${actual})`);
    }
  }
  return lines.join("\n");
}

function formatLatency(latency: LatencySummary): string {
  const ms = (value: number | null) => (value === null ? "n/a" : `${round(value, 2)}ms`);
  return `p50 ${ms(latency.p50)}  p90 ${ms(latency.p90)}  p95 ${ms(latency.p95)}  p99 ${ms(latency.p99)}  max ${ms(latency.max)}`;
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
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temp, file);
}

/** The evidence file name for a summary: load-<startedAt with : and . made file-safe>.json. */
export function evidencePath(dir: string, summary: LoadSummary): string {
  return join(dir, `load-${summary.startedAt.replace(/[:.]/g, "-")}.json`);
}
