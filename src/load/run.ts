/**
 * Runs one load plan: opens a keep-alive undici Pool to the target origin, drives the chosen
 * executor, records every request into RunMetrics, reports progress once per interval, and
 * stops early (partial result) when the signal aborts.
 */
import { Pool } from "undici";
import { runArrivalRate } from "./arrival-rate.js";
import { runConstantVus, runRampingVus } from "./closed-model.js";
import { scenarioIteration } from "./iteration.js";
import { RunMetrics } from "./metrics.js";
import type { LoadPlan } from "./plan.js";
import { type AbortedBy, IntervalSampler, type SamplerResult } from "./sampler.js";
import { sendOne } from "./send.js";
import type { MemorySource } from "./target-memory.js";
import { timelineIntervalMs } from "./timeline.js";

export interface Progress {
  readonly elapsedMs: number;
  readonly durationMs: number;
  /** Completed requests per second over the last interval. */
  readonly rate: number;
  /** Corrected p99 over the last interval, ms. */
  readonly p99: number | null;
  readonly errors: number;
  readonly dropped: number;
  /** Generator health over the last timeline interval (absent before the first one closes). */
  readonly generator?: { readonly cpu: number; readonly utilization: number; readonly lagMaxMs: number };
}

export interface RunResult {
  readonly metrics: RunMetrics;
  /** The same measurements per request name (scenarios; a URL run has one name, "default"). */
  readonly byName: ReadonlyMap<string, RunMetrics>;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly elapsedMs: number;
  /** True when the run was stopped before its duration ended (Ctrl-C or abortOnFail). */
  readonly partial: boolean;
  /** Timeline interval length, ms. */
  readonly intervalMs: number;
  readonly sampled: SamplerResult;
  /** Set when an abortOnFail threshold stopped the run. */
  readonly abortedBy: AbortedBy | undefined;
  /** What the target-memory readings are, when probed. */
  readonly memorySource: string | undefined;
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
  readonly progressIntervalMs?: number;
  /** How long in-flight requests may finish after an abort before connections are closed. */
  readonly abortGraceMs?: number;
  /** Reads the target's memory once per timeline interval (--target-pid, --prom-metric). */
  readonly memory?: MemorySource | undefined;
  /** Timeline interval; default from the duration (timelineIntervalMs). */
  readonly intervalMs?: number;
}

export async function runLoad(plan: LoadPlan, options: RunOptions = {}): Promise<RunResult> {
  const { executor, request, timeoutMs } = plan;
  const metrics = new RunMetrics();
  const abort = new AbortController();
  const outer = options.signal;
  const onOuterAbort = () => abort.abort();
  if (outer?.aborted) abort.abort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });

  const connections =
    executor.kind === "constant-arrival-rate" || executor.kind === "ramping-arrival-rate"
      ? executor.connections
      : executor.kind === "constant-vus"
        ? executor.vus
        : Math.ceil(Math.max(executor.startVus, ...executor.stages.map((stage) => stage.target), 1));
  const origins = plan.scenario
    ? [...new Set(plan.scenario.requests.map((item) => item.origin))]
    : [request.origin];
  const pools = new Map(
    origins.map((origin) => [
      origin,
      new Pool(origin, { connections, pipelining: 1, connect: { timeout: timeoutMs } }),
    ]),
  );
  const pool = pools.get(request.origin) ?? pools.values().next().value!;
  const destroyPools = () =>
    Promise.all([...pools.values()].map((item) => item.destroy().catch(() => undefined)));
  // A URL run has one name, "default", whose figures are the totals: the same object, so each
  // request is recorded once.
  const byName = new Map<string, RunMetrics>(
    plan.scenario
      ? plan.scenario.requests.map((item) => [item.name, new RunMetrics()])
      : [["default", metrics]],
  );

  // After an abort's grace period the pool is destroyed; requests it fails are not the target's
  // fault, so nothing is recorded after that point.
  let recording = true;
  let fire = async (intendedAt: number): Promise<void> => {
    const sentAt = performance.now();
    const outcome = await sendOne(pool, request, timeoutMs);
    if (recording) metrics.record(outcome, intendedAt, sentAt, performance.now());
  };
  let iterateVu = fire;
  if (plan.scenario) {
    const scenario = scenarioIteration(
      plan.scenario,
      pools,
      timeoutMs,
      (name, outcome, intendedAt, sentAt) => {
        if (!recording) return;
        const doneAt = performance.now();
        metrics.record(outcome, intendedAt, sentAt, doneAt);
        byName.get(name)!.record(outcome, intendedAt, sentAt, doneAt);
      },
      abort.signal,
    );
    fire = scenario.iterate;
    // In the closed model a VU thinks after each iteration too, as a k6 script ending in sleep().
    iterateVu = async (startedAt) => {
      await scenario.iterate(startedAt);
      await scenario.thinkAfterIteration();
    };
  }

  const startedAt = new Date();
  const start = performance.now();
  const spanMs = options.intervalMs ?? timelineIntervalMs(executor.durationMs);
  const sampler = new IntervalSampler({
    thresholds: plan.thresholds,
    metrics,
    byName,
    start,
    intervalMs: spanMs,
    memory: options.memory?.probe,
    onAbort: () => abort.abort(),
  });
  const spanTimer = setInterval(() => sampler.close(performance.now()), spanMs);
  const intervalMs = options.progressIntervalMs ?? 1000;
  let lastTick = start;
  const progressTimer = options.onProgress
    ? setInterval(() => {
        const now = performance.now();
        const interval = metrics.takeInterval();
        const health = sampler.lastHealth;
        options.onProgress!({
          elapsedMs: now - start,
          durationMs: executor.durationMs,
          rate: (interval.requests * 1000) / Math.max(1, now - lastTick),
          p99: interval.p99,
          errors: metrics.errors,
          dropped: metrics.dropped,
          ...(health
            ? { generator: { cpu: health.cpu, utilization: health.utilization, lagMaxMs: health.lagMaxMs } }
            : {}),
        });
        lastTick = now;
      }, intervalMs)
    : undefined;

  let graceTimer: NodeJS.Timeout | undefined;
  abort.signal.addEventListener(
    "abort",
    () => {
      graceTimer = setTimeout(() => {
        recording = false;
        void destroyPools();
      }, options.abortGraceMs ?? 1000);
    },
    { once: true },
  );

  try {
    if (executor.kind === "constant-arrival-rate" || executor.kind === "ramping-arrival-rate") {
      await runArrivalRate(executor, fire, metrics, abort.signal);
    } else if (executor.kind === "ramping-vus") {
      await runRampingVus(executor, iterateVu, abort.signal);
    } else {
      await runConstantVus(executor, iterateVu, abort.signal);
    }
  } finally {
    clearInterval(spanTimer);
    if (progressTimer) clearInterval(progressTimer);
    if (graceTimer) clearTimeout(graceTimer);
    outer?.removeEventListener("abort", onOuterAbort);
    recording = false;
    await destroyPools();
  }
  const end = performance.now();
  const sampled = await sampler.finish(end);
  return {
    metrics,
    byName,
    startedAt,
    finishedAt: new Date(),
    elapsedMs: end - start,
    partial: abort.signal.aborted,
    intervalMs: spanMs,
    sampled,
    abortedBy: sampled.abortedBy,
    memorySource: options.memory?.description,
  };
}
