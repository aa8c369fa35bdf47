/**
 * Runs one load plan: drives the chosen executor from worker threads (workers.ts; one unless
 * `--workers` says more) or, when asked, from this thread (drive.ts), records every request into RunMetrics, closes timeline
 * intervals (thresholds, health, memory), reports progress once per interval, and stops early
 * (partial result) when the signal aborts.
 */
import type { Worker } from "node:worker_threads";
import { drive, metricsByName } from "./drive.js";
import { RunMetrics } from "./metrics.js";
import type { LoadPlan } from "./plan.js";
import { type AbortedBy, IntervalSampler, type SamplerResult } from "./sampler.js";
import type { MemorySource } from "./target-memory.js";
import { timelineIntervalMs } from "./timeline.js";
import { LoadWorkers } from "./workers.js";

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
  /** Worker threads the run was split across (1 also when it ran in this thread). */
  readonly workers: number;
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
  /** Called as each worker thread is started: for embedding and tests. */
  readonly onWorkerStart?: (worker: Worker, index: number) => void;
  /**
   * Drive a one-worker run from this thread instead of a worker thread: for embedders that
   * cannot start threads, and for tests that block this thread on purpose. The CLI never does:
   * in a worker thread the generator's heap is sized for flat memory (workers.ts), and
   * aggregation, progress and reports never delay a send.
   */
  readonly inThisThread?: boolean;
}

export async function runLoad(plan: LoadPlan, options: RunOptions = {}): Promise<RunResult> {
  const { executor } = plan;
  const metrics = new RunMetrics();
  const byName = metricsByName(plan, metrics);
  const abortGraceMs = options.abortGraceMs ?? 1000;
  const count = plan.workers ?? 1;
  // Workers are started (threads up, modules loaded) before the clock starts.
  const workers =
    count > 1 || !options.inThisThread
      ? await LoadWorkers.start(plan, count, {
          metrics,
          byName,
          abortGraceMs,
          onWorkerStart: options.onWorkerStart,
        })
      : undefined;

  const abort = new AbortController();
  const outer = options.signal;
  const onOuterAbort = () => abort.abort();
  if (outer?.aborted) abort.abort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });

  let start = performance.now();
  let startedAt = new Date();
  if (workers) {
    const at = workers.begin();
    start = at - performance.timeOrigin;
    startedAt = new Date(at);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, start - performance.now())));
  }
  const spanMs = options.intervalMs ?? timelineIntervalMs(executor.durationMs);
  const sampler = new IntervalSampler({
    thresholds: plan.thresholds,
    metrics,
    byName,
    start,
    intervalMs: spanMs,
    memory: options.memory?.probe,
    onAbort: () => abort.abort(),
    health: workers?.health,
  });
  // With workers, what they recorded is collected first (a round trip to each); the interval
  // still ends when the timer fired.
  let closing: Promise<void> = Promise.resolve();
  const spanTimer = setInterval(() => {
    const now = performance.now();
    if (!workers) sampler.close(now);
    else closing = closing.then(() => workers.collect(true)).then(() => void sampler.close(now));
  }, spanMs);
  const intervalMs = options.progressIntervalMs ?? 1000;
  let lastTick = start;
  const report = (now: number) => {
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
  };
  // A collection under way when the run ends reports nothing: the summary comes next.
  let running = true;
  const progressTimer = options.onProgress
    ? setInterval(() => {
        const now = performance.now();
        if (!workers) report(now);
        else
          void workers.collect(false).then(() => {
            if (running) report(now);
          });
      }, intervalMs)
    : undefined;

  let end: number;
  try {
    // The run ends when the last request was recorded, not when connections or threads have
    // been torn down.
    end = workers
      ? await workers.finished(abort.signal)
      : await drive(plan, { metrics, byName, signal: abort.signal, start, abortGraceMs });
  } finally {
    running = false;
    clearInterval(spanTimer);
    if (progressTimer) clearInterval(progressTimer);
    outer?.removeEventListener("abort", onOuterAbort);
    await workers?.terminate();
  }
  // Intervals whose collection was under way when the run ended are closed before the last one;
  // one may have closed after the last request (while the threads reported): the run then ends
  // with it, so no interval has a negative length.
  await closing;
  end = Math.max(end, sampler.closedUntil);
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
    workers: count,
  };
}
