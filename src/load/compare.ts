/**
 * `bulwark load compare BASE.json NEW.json`: side by side with deltas, and whether NEW is a
 * significant regression — not just a different number. One run's p95 is one number, with no
 * notion of its own noise; the per-interval p95s of the timeline are many samples of the same
 * quantity, so the two runs can be tested against each other (docs/load.md, "Comparing runs"):
 *
 *   latency     one-sided Mann-Whitney U on the per-interval corrected p95s (NEW greater),
 *               regression when p < alpha AND the median interval p95 rose by more than
 *               --max-regression
 *   throughput  the same test on per-interval rps (NEW lower), when the rps fell by more than
 *               --max-regression
 *   errors      one-sided two-proportion z-test on errors / requests (NEW greater), regression
 *               when p < alpha AND the error rate rose by more than --max-error-increase
 *               (absolute)
 *
 * Fewer than MIN_INTERVALS usable intervals on either side: the rank tests are not run and the
 * verdict for that metric is "inconclusive", never a silent pass.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { BulwarkError } from "../errors.js";
import type { LatencySummary } from "./histogram.js";
import type { LoadSummary } from "./report.js";
import { mannWhitneyGreater, median, proportionGreater } from "./statistics.js";

export const MIN_INTERVALS = 8;

export interface CompareOptions {
  /** Significance level of each test (default 0.01). */
  readonly alpha: number;
  /** Relative change of median p95 (up) or rps (down) that counts as a regression (default 0.1). */
  readonly maxRegression: number;
  /** Absolute error-rate increase that counts as a regression (default 0.001, 0.1 point). */
  readonly maxErrorIncrease: number;
}

/**
 * "within bound": significantly worse, but by less than the allowed change — a real but
 * accepted difference, reported so it is not mistaken for noise.
 */
export type Verdict =
  | "regression"
  | "within bound"
  | "improvement"
  | "no significant change"
  | "inconclusive";

export interface MetricComparison {
  readonly metric: "p95" | "rps" | "errorRate";
  readonly base: number | null;
  readonly new: number | null;
  /** new − base, and (new − base) / base when base > 0. */
  readonly delta: number | null;
  readonly relative: number | null;
  readonly test: string;
  readonly p: number | null;
  readonly samples: { readonly base: number; readonly new: number };
  readonly verdict: Verdict;
  readonly note?: string;
}

export interface Comparison {
  readonly kind: "load-comparison";
  readonly version: 1;
  readonly base: { readonly file: string; readonly startedAt: string; readonly target: string };
  readonly new: { readonly file: string; readonly startedAt: string; readonly target: string };
  readonly options: CompareOptions;
  /** Overall figures side by side: [base, new, delta]. */
  readonly table: readonly {
    readonly name: string;
    readonly base: number | null;
    readonly new: number | null;
  }[];
  readonly metrics: readonly MetricComparison[];
  readonly regression: boolean;
  readonly warnings: readonly string[];
}

export function readSummary(file: string): LoadSummary {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new BulwarkError(
      "usage",
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "unknown error"})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BulwarkError("usage", `${file}: not JSON (${(error as Error).message})`);
  }
  const record = value as Partial<LoadSummary> | null;
  if (
    record === null ||
    typeof record !== "object" ||
    record.kind !== "load-summary" ||
    record.version !== 1
  ) {
    throw new BulwarkError(
      "usage",
      `${file}: expected a bulwark load summary (kind "load-summary", version 1), as written by --out or to .bulwark/evidence`,
    );
  }
  const checked = SUMMARY_SHAPE.safeParse(record);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new BulwarkError(
      "usage",
      `${file}: not a complete load summary: ${issue.path.join(".") || "document"}: ${issue.message.toLowerCase()}`,
    );
  }
  return record as LoadSummary;
}

/** The fields compare and merge read; anything else in a summary is passed through unread. */
const latencyShape = z.looseObject({
  p50: z.number().nullable(),
  p90: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
  max: z.number().nullable(),
});
const countsShape = {
  requests: z.number(),
  errors: z.number(),
  clientErrors: z.number(),
  bytesReceived: z.number(),
  statusCodes: z.record(z.string(), z.number()),
  errorsByClass: z.record(z.string(), z.number()),
};
const SUMMARY_SHAPE = z.looseObject({
  ...countsShape,
  startedAt: z.string(),
  finishedAt: z.string(),
  elapsedMs: z.number(),
  partial: z.boolean(),
  valid: z.boolean(),
  target: z.looseObject({ url: z.string(), method: z.string() }),
  executor: z.looseObject({ kind: z.string() }),
  rps: z.number(),
  dropped: z.number(),
  latency: latencyShape,
  serviceTime: latencyShape,
  thresholds: z.array(
    z.looseObject({ expression: z.string(), ok: z.boolean(), actual: z.number().nullable() }),
  ),
  byRequest: z.record(z.string(), z.looseObject(countsShape)),
  generator: z.looseObject({
    reasons: z.array(z.string()),
    cpu: z.looseObject({ mean: z.number(), max: z.number() }),
    eventLoop: z.looseObject({ utilization: z.number(), lagP99Ms: z.number(), lagMaxMs: z.number() }),
    boundIntervals: z.number(),
    droppedWhileBound: z.number(),
    rss: z.looseObject({ first: z.number(), last: z.number(), max: z.number() }),
  }),
  intervalMs: z.number(),
  timeline: z.array(
    z.looseObject({
      startMs: z.number(),
      endMs: z.number(),
      requests: z.number(),
      rps: z.number(),
      errors: z.number(),
      dropped: z.number(),
      latency: latencyShape,
      generator: z.looseObject({
        cpu: z.number(),
        utilization: z.number(),
        lagMaxMs: z.number(),
        rssBytes: z.number(),
      }),
    }),
  ),
});

export function compareSummaries(
  base: LoadSummary,
  next: LoadSummary,
  files: { base: string; new: string },
  options: CompareOptions,
): Comparison {
  const warnings: string[] = [];
  if (JSON.stringify(base.executor) !== JSON.stringify(next.executor))
    warnings.push("the runs offered different load (executor differs): differences may come from that");
  if (base.target.url !== next.target.url) warnings.push("the runs hit different URLs");
  for (const [name, run] of [
    ["base", base],
    ["new", next],
  ] as const) {
    if (run.valid === false) warnings.push(`the ${name} run is invalid: its generator was the bottleneck`);
    if (run.partial) warnings.push(`the ${name} run is partial (interrupted or aborted)`);
  }
  const p95 = (run: LoadSummary) =>
    (run.timeline ?? []).flatMap((sample) => (sample.latency.p95 === null ? [] : [sample.latency.p95]));
  // rps of intervals that ran a full interval: a short last interval is not a rate.
  const rps = (run: LoadSummary) =>
    (run.timeline ?? [])
      .filter((sample) => sample.endMs - sample.startMs >= 0.9 * (run.intervalMs ?? 1000))
      .map((sample) => sample.rps);

  const metrics: MetricComparison[] = [
    rankComparison("p95", base.latency.p95, next.latency.p95, p95(base), p95(next), "up", options),
    rankComparison("rps", base.rps, next.rps, rps(base), rps(next), "down", options),
    errorComparison(base, next, options),
  ];
  const latencyRows = (name: string, pick: (run: LoadSummary) => LatencySummary) =>
    (["p50", "p90", "p95", "p99", "max"] as const).map((key) => ({
      name: `${name} ${key} (ms)`,
      base: pick(base)[key],
      new: pick(next)[key],
    }));
  return {
    kind: "load-comparison",
    version: 1,
    base: { file: files.base, startedAt: base.startedAt, target: base.target.url },
    new: { file: files.new, startedAt: next.startedAt, target: next.target.url },
    options,
    table: [
      { name: "requests", base: base.requests, new: next.requests },
      { name: "rps", base: base.rps, new: next.rps },
      { name: "error rate", base: base.errorRate, new: next.errorRate },
      { name: "dropped", base: base.dropped, new: next.dropped },
      ...latencyRows("latency", (run) => run.latency),
      ...latencyRows("service", (run) => run.serviceTime).filter((row) => row.name.includes("p99")),
    ],
    metrics,
    regression: metrics.some((metric) => metric.verdict === "regression"),
    warnings,
  };
}

function rankComparison(
  metric: "p95" | "rps",
  baseValue: number | null,
  newValue: number | null,
  baseSamples: readonly number[],
  newSamples: readonly number[],
  worse: "up" | "down",
  options: CompareOptions,
): MetricComparison {
  const medianBase = median(baseSamples);
  const medianNew = median(newSamples);
  const samples = { base: baseSamples.length, new: newSamples.length };
  const delta = baseValue === null || newValue === null ? null : round(newValue - baseValue);
  const relative =
    medianBase !== null && medianNew !== null && medianBase > 0
      ? round((medianNew - medianBase) / medianBase)
      : null;
  const test = `one-sided Mann-Whitney U on per-interval ${metric}`;
  if (samples.base < MIN_INTERVALS || samples.new < MIN_INTERVALS) {
    return {
      metric,
      base: baseValue,
      new: newValue,
      delta,
      relative,
      test,
      p: null,
      samples,
      verdict: "inconclusive",
      note: `needs at least ${MIN_INTERVALS} intervals in each run (have ${samples.base} and ${samples.new}); run longer`,
    };
  }
  // For "up", test new > base; for "down", test base > new (new lower).
  const worseTest =
    worse === "up"
      ? mannWhitneyGreater(baseSamples, newSamples)
      : mannWhitneyGreater(newSamples, baseSamples);
  const betterTest =
    worse === "up"
      ? mannWhitneyGreater(newSamples, baseSamples)
      : mannWhitneyGreater(baseSamples, newSamples);
  const change = relative ?? 0;
  const worseBy = worse === "up" ? change : -change;
  let verdict: Verdict = "no significant change";
  let p = worseTest.p;
  if (worseTest.p < options.alpha && worseBy > options.maxRegression) verdict = "regression";
  else if (worseTest.p < options.alpha && worseBy > 0) verdict = "within bound";
  else if (betterTest.p < options.alpha && -worseBy > options.maxRegression) {
    verdict = "improvement";
    p = betterTest.p;
  }
  return { metric, base: baseValue, new: newValue, delta, relative, test, p: round(p, 6), samples, verdict };
}

function errorComparison(base: LoadSummary, next: LoadSummary, options: CompareOptions): MetricComparison {
  const baseRate = base.requests === 0 ? null : base.errors / base.requests;
  const newRate = next.requests === 0 ? null : next.errors / next.requests;
  const samples = { base: base.requests, new: next.requests };
  const test = "one-sided two-proportion z-test on errors / requests";
  if (baseRate === null || newRate === null) {
    return {
      metric: "errorRate",
      base: baseRate,
      new: newRate,
      delta: null,
      relative: null,
      test,
      p: null,
      samples,
      verdict: "inconclusive",
      note: "a run has no requests",
    };
  }
  const worse = proportionGreater(base.errors, base.requests, next.errors, next.requests);
  const better = proportionGreater(next.errors, next.requests, base.errors, base.requests);
  const delta = newRate - baseRate;
  let verdict: Verdict = "no significant change";
  let p = worse.p;
  if (worse.p < options.alpha && delta > options.maxErrorIncrease) verdict = "regression";
  else if (worse.p < options.alpha && delta > 0) verdict = "within bound";
  else if (better.p < options.alpha && -delta > options.maxErrorIncrease) {
    verdict = "improvement";
    p = better.p;
  }
  return {
    metric: "errorRate",
    base: round(baseRate, 6),
    new: round(newRate, 6),
    delta: round(delta, 6),
    relative: baseRate > 0 ? round(delta / baseRate) : null,
    test,
    p: round(p, 6),
    samples,
    verdict,
  };
}

export function renderComparison(comparison: Comparison): string {
  const lines = [
    `compare  base ${comparison.base.file} (${comparison.base.startedAt})`,
    `         new  ${comparison.new.file} (${comparison.new.startedAt})`,
    `  ${"".padEnd(22)}${"base".padStart(12)}${"new".padStart(12)}${"delta".padStart(12)}${"change".padStart(10)}`,
  ];
  for (const row of comparison.table) {
    const delta = row.base === null || row.new === null ? null : row.new - row.base;
    const change =
      delta === null || !row.base ? "" : `${delta >= 0 ? "+" : ""}${round((delta / row.base) * 100, 1)}%`;
    lines.push(
      `  ${row.name.padEnd(22)}${show(row.base).padStart(12)}${show(row.new).padStart(12)}${show(delta === null ? null : round(delta, 4)).padStart(12)}${change.padStart(10)}`,
    );
  }
  lines.push("  significance");
  for (const metric of comparison.metrics) {
    const relative =
      metric.relative === null
        ? ""
        : ` median interval ${metric.metric} ${metric.relative >= 0 ? "+" : ""}${round(metric.relative * 100, 1)}%,`;
    const p =
      metric.p === null ? "" : ` p=${metric.p < 0.0001 ? metric.p.toExponential(1) : round(metric.p, 4)}`;
    const label = metric.verdict === "regression" ? "REGRESSION" : metric.verdict;
    lines.push(
      `    ${metric.metric.padEnd(10)} ${label}:${relative}${p} (${metric.test}, ${metric.samples.base} vs ${metric.samples.new} samples)${metric.note ? ` — ${metric.note}` : ""}`,
    );
  }
  for (const warning of comparison.warnings) lines.push(`  warning   ${warning}`);
  lines.push(
    comparison.regression
      ? `  RESULT    significant regression (alpha ${comparison.options.alpha}, beyond ${round(comparison.options.maxRegression * 100, 2)}% / +${round(comparison.options.maxErrorIncrease * 100, 3)} points of errors)`
      : "  RESULT    no significant regression",
  );
  return lines.join("\n");
}

function show(value: number | null): string {
  return value === null ? "n/a" : String(round(value, 4));
}

function round(value: number, digits = 4): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
