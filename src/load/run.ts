/**
 * Runs one load plan: opens a keep-alive undici Pool to the target origin, drives the chosen
 * executor, records every request into RunMetrics, reports progress once per interval, and
 * stops early (partial result) when the signal aborts.
 */
import { Pool } from "undici";
import { runArrivalRate } from "./arrival-rate.js";
import { runConstantVus } from "./closed-model.js";
import { RunMetrics } from "./metrics.js";
import type { LoadPlan } from "./plan.js";
import { sendOne } from "./send.js";

export interface Progress {
  readonly elapsedMs: number;
  readonly durationMs: number;
  /** Completed requests per second over the last interval. */
  readonly rate: number;
  /** Corrected p99 over the last interval, ms. */
  readonly p99: number | null;
  readonly errors: number;
  readonly dropped: number;
}

export interface RunResult {
  readonly metrics: RunMetrics;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly elapsedMs: number;
  /** True when the run was stopped before its duration ended (Ctrl-C). */
  readonly partial: boolean;
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
  readonly progressIntervalMs?: number;
  /** How long in-flight requests may finish after an abort before connections are closed. */
  readonly abortGraceMs?: number;
}

export async function runLoad(plan: LoadPlan, options: RunOptions = {}): Promise<RunResult> {
  const { executor, request, timeoutMs } = plan;
  const metrics = new RunMetrics();
  const abort = new AbortController();
  const outer = options.signal;
  const onOuterAbort = () => abort.abort();
  if (outer?.aborted) abort.abort();
  outer?.addEventListener("abort", onOuterAbort, { once: true });

  const connections = executor.kind === "constant-arrival-rate" ? executor.connections : executor.vus;
  const pool = new Pool(request.origin, {
    connections,
    pipelining: 1,
    connect: { timeout: timeoutMs },
  });

  // After an abort's grace period the pool is destroyed; requests it fails are not the target's
  // fault, so nothing is recorded after that point.
  let recording = true;
  const fire = async (intendedAt: number): Promise<void> => {
    const sentAt = performance.now();
    const outcome = await sendOne(pool, request, timeoutMs);
    if (recording) metrics.record(outcome, intendedAt, sentAt, performance.now());
  };

  const startedAt = new Date();
  const start = performance.now();
  const intervalMs = options.progressIntervalMs ?? 1000;
  let lastTick = start;
  const progressTimer = options.onProgress
    ? setInterval(() => {
        const now = performance.now();
        const interval = metrics.takeInterval();
        options.onProgress!({
          elapsedMs: now - start,
          durationMs: executor.durationMs,
          rate: (interval.requests * 1000) / Math.max(1, now - lastTick),
          p99: interval.p99,
          errors: metrics.errors,
          dropped: metrics.dropped,
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
        void pool.destroy();
      }, options.abortGraceMs ?? 1000);
    },
    { once: true },
  );

  try {
    if (executor.kind === "constant-arrival-rate") {
      await runArrivalRate(executor, fire, metrics, abort.signal);
    } else {
      await runConstantVus(executor, fire, abort.signal);
    }
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    if (graceTimer) clearTimeout(graceTimer);
    outer?.removeEventListener("abort", onOuterAbort);
    recording = false;
    await pool.destroy().catch(() => undefined);
  }
  const elapsedMs = performance.now() - start;
  return { metrics, startedAt, finishedAt: new Date(), elapsedMs, partial: abort.signal.aborted };
}
