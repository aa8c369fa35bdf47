/**
 * Breaking-point search (`--find-limit`, `--preset stress`): run constant arrival rates in
 * steps — start, start + step, … up to max — each for the step duration, and stop at the first
 * step that is not sustainable. The highest sustainable step is the limit. Each step is a full
 * open-model run with its own measurements, so its evidence (achieved rps, percentiles, errors,
 * dropped) stands on its own.
 *
 * A step is sustainable when (docs/load.md, "Finding the limit"):
 *   - every SLO threshold passes (default p(99)<1s and error_rate<1%),
 *   - no iteration was dropped (the offered rate was really offered), and
 *   - the achieved throughput is at least 90 % of the step's rate.
 * When the generator itself was the bottleneck in a step (valid: false) the search stops there:
 * what broke was the generator, so that step proves nothing about the target.
 */
import type { LatencySummary } from "./histogram.js";
import { type FindLimitSpec, type LoadPlan, limitStep } from "./plan.js";
import { buildSummary, type LoadSummary, type SummaryTarget, summaryTarget } from "./report.js";
import { type RunOptions, runLoad } from "./run.js";
import type { ThresholdResult } from "./thresholds.js";

/** Achieved throughput below this share of the step's rate means the target fell behind. */
export const MIN_ACHIEVED_SHARE = 0.9;

export interface LimitStep {
  readonly rate: number;
  readonly achievedRps: number;
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number | null;
  readonly dropped: number;
  readonly latency: LatencySummary;
  readonly serviceTime: LatencySummary;
  readonly thresholds: readonly ThresholdResult[];
  readonly valid: boolean;
  readonly sustainable: boolean;
  /** Why the step is not sustainable; empty when it is. */
  readonly broke: readonly string[];
}

export type LimitOutcome =
  /** A step broke the SLO: `limit` is the step below (null when the first step broke). */
  | "broken"
  /** Every step up to maxRate held: the limit is at least maxRate. */
  | "max-rate-held"
  /** The generator was the bottleneck before the target broke. */
  | "generator-bound"
  | "interrupted";

export interface LimitSummary {
  readonly kind: "load-limit";
  readonly version: 1;
  readonly partial: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly elapsedMs: number;
  readonly target: SummaryTarget;
  readonly search: FindLimitSpec;
  readonly slo: readonly string[];
  /** Highest sustainable rate (requests per second); null when no step held. */
  readonly limit: number | null;
  /** The first step that broke; null when none did. */
  readonly breakingRate: number | null;
  readonly outcome: LimitOutcome;
  readonly steps: readonly LimitStep[];
  /** The full summary of the highest sustainable step (timeline included). */
  readonly limitRun: LoadSummary | null;
  readonly scenario?: string;
}

export async function findLimit(
  plan: LoadPlan & { readonly findLimit: FindLimitSpec },
  options: RunOptions & { readonly onStep?: (step: LimitStep) => void } = {},
): Promise<LimitSummary> {
  const spec = plan.findLimit;
  const startedAt = new Date();
  const start = performance.now();
  const steps: LimitStep[] = [];
  let limitRun: LoadSummary | null = null;
  let outcome: LimitOutcome = "max-rate-held";
  let partial = false;
  for (let index = 0; ; index++) {
    const rate = round(spec.startRate + index * spec.stepRate);
    if (rate > spec.maxRate + 1e-9) break;
    const stepPlan: LoadPlan = { ...plan, executor: limitStep(spec, rate) };
    const result = await runLoad(stepPlan, options);
    const summary = buildSummary(stepPlan, result);
    if (result.partial && !result.abortedBy) {
      // Ctrl-C: the step was cut short, so it proves nothing either way. (An abortOnFail stop is
      // a failed SLO: the step is judged, and breaks.)
      outcome = "interrupted";
      partial = true;
      break;
    }
    const step = judgeStep(rate, summary);
    steps.push(step);
    options.onStep?.(step);
    if (!step.valid) {
      outcome = "generator-bound";
      break;
    }
    if (!step.sustainable) {
      outcome = "broken";
      break;
    }
    limitRun = summary;
  }
  const held = steps.filter((step) => step.sustainable && step.valid);
  const broken = steps.find((step) => !step.sustainable && step.valid);
  return {
    kind: "load-limit",
    version: 1,
    partial,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    elapsedMs: Math.round(performance.now() - start),
    target: summaryTarget(plan),
    search: spec,
    slo: plan.thresholds.map((threshold) => threshold.expression),
    limit: held.at(-1)?.rate ?? null,
    breakingRate: broken?.rate ?? null,
    outcome,
    steps,
    limitRun,
    ...(plan.scenario ? { scenario: plan.scenario.file } : {}),
  };
}

export function judgeStep(rate: number, summary: LoadSummary): LimitStep {
  const broke = summary.thresholds.filter((result) => !result.ok).map((result) => result.expression);
  if (summary.dropped > 0) broke.push(`dropped ${summary.dropped} iterations`);
  if (summary.rps < MIN_ACHIEVED_SHARE * rate) {
    broke.push(`achieved ${summary.rps}/s, below ${MIN_ACHIEVED_SHARE * 100}% of ${rate}/s`);
  }
  return {
    rate,
    achievedRps: summary.rps,
    requests: summary.requests,
    errors: summary.errors,
    errorRate: summary.errorRate,
    dropped: summary.dropped,
    latency: summary.latency,
    serviceTime: summary.serviceTime,
    thresholds: summary.thresholds,
    valid: summary.valid,
    sustainable: broke.length === 0,
    broke: summary.valid ? broke : [...broke, ...summary.generator.reasons],
  };
}

export function renderLimit(summary: LimitSummary): string {
  const ms = (value: number | null) => (value === null ? "n/a" : `${round(value)}ms`);
  const lines = [
    `find-limit ${summary.target.method} ${summary.target.url}: steps of ${summary.search.stepRate}/s from ${summary.search.startRate}/s to ${summary.search.maxRate}/s, ${summary.search.stepDurationMs / 1000}s each; SLO ${summary.slo.join(", ")}`,
    "  rate/s  achieved/s  p50        p95        p99        errors  dropped  verdict",
  ];
  for (const step of summary.steps) {
    const verdict = !step.valid
      ? `GENERATOR-BOUND (${step.broke.join("; ")})`
      : step.sustainable
        ? "holds"
        : `BREAKS: ${step.broke.join("; ")}`;
    lines.push(
      `  ${String(step.rate).padStart(6)}  ${String(step.achievedRps).padStart(10)}  ${ms(step.latency.p50).padEnd(9)}  ${ms(step.latency.p95).padEnd(9)}  ${ms(step.latency.p99).padEnd(9)}  ${String(step.errors).padStart(6)}  ${String(step.dropped).padStart(7)}  ${verdict}`,
    );
  }
  const limit = summary.limit === null ? "none (the first step already broke)" : `${summary.limit}/s`;
  switch (summary.outcome) {
    case "broken":
      lines.push(`  LIMIT     ${limit}; breaks at ${summary.breakingRate}/s`);
      break;
    case "max-rate-held":
      lines.push(`  LIMIT     at least ${limit}: every step up to --max-rate held`);
      break;
    case "generator-bound":
      lines.push(
        `  LIMIT     at least ${limit}: the generator, not the target, became the bottleneck; run several generators (docs/load.md)`,
      );
      break;
    case "interrupted":
      lines.push(`  LIMIT     at least ${limit} (interrupted before the target broke)`);
      break;
  }
  return lines.join("\n");
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
