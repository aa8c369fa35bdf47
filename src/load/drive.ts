/**
 * Drives one plan's executor from the calling thread: opens a keep-alive undici Pool per target
 * origin, builds the request (or scenario iteration) function, runs the open or closed model,
 * and records every finished request. Used by a single-threaded run (run.ts) and by each worker
 * thread of a split run (load-worker.ts), which then passes its share of the schedule.
 */
import { Pool } from "undici";
import { runArrivalRate } from "./arrival-rate.js";
import { runConstantVus, runRampingVus } from "./closed-model.js";
import { scenarioIteration } from "./iteration.js";
import { RunMetrics } from "./metrics.js";
import type { Executor, LoadPlan } from "./plan.js";
import { targetDispatcherOptions } from "./target-tls.js";
import { UrlSender } from "./url-sender.js";
import { type Share, shareOf } from "./worker-share.js";

export interface DriveOptions {
  readonly metrics: RunMetrics;
  readonly byName: ReadonlyMap<string, RunMetrics>;
  readonly signal: AbortSignal;
  /** performance.now() of the run's start. */
  readonly start: number;
  /** How long in-flight requests may finish after an abort before connections are closed. */
  readonly abortGraceMs: number;
  /** This worker's share of the run; absent for a single-threaded run. */
  readonly share?: Share | undefined;
}

/**
 * Per request name, what it records into. A URL run has one name, "default", whose figures are
 * the totals: the same object, so each request is recorded once.
 */
export function metricsByName(plan: LoadPlan, metrics: RunMetrics): Map<string, RunMetrics> {
  return new Map<string, RunMetrics>(
    plan.scenario
      ? plan.scenario.requests.map((item) => [item.name, new RunMetrics()])
      : [["default", metrics]],
  );
}

/** Keep-alive connections per origin: one per request that may be in flight, one per VU. */
export function connectionsFor(executor: Executor, share: Share | undefined): number {
  if (executor.kind === "constant-arrival-rate" || executor.kind === "ramping-arrival-rate")
    return executor.connections;
  if (executor.kind === "constant-vus") return executor.vus;
  const peak = Math.ceil(Math.max(executor.startVus, ...executor.stages.map((stage) => stage.target), 1));
  return Math.max(1, share ? shareOf(peak, share) : peak);
}

/**
 * Runs the executor to its end (or an abort and its grace period); resolves with the
 * performance.now() at which the last request was recorded, before connections are closed.
 */
export async function drive(plan: LoadPlan, options: DriveOptions): Promise<number> {
  const { executor, request, timeoutMs } = plan;
  const { metrics, byName, signal, start, share } = options;
  const connections = connectionsFor(executor, share);
  // A URL run goes through the lean hot path (url-sender.ts); a scenario through Pools per origin
  // and the general dispatch (templating, extraction, several origins).
  let fire: (intendedAt: number) => Promise<void>;
  let iterateVu: (startedAt: number) => Promise<void>;
  let stopRecording: () => void;
  let close: () => Promise<unknown>;
  let sender: UrlSender | undefined;
  if (!plan.scenario) {
    sender = new UrlSender(
      request,
      timeoutMs,
      connections,
      metrics,
      targetDispatcherOptions(timeoutMs, plan),
    );
    fire = iterateVu = sender.send;
    const urlSender = sender;
    stopRecording = () => {
      urlSender.recording = false;
    };
    close = () => urlSender.destroy();
  } else {
    const pools = new Map(
      [...new Set(plan.scenario.requests.map((item) => item.origin))].map((origin) => [
        origin,
        new Pool(origin, { connections, ...targetDispatcherOptions(timeoutMs, plan) }),
      ]),
    );
    // After an abort's grace period the pools are destroyed; requests they fail are not the
    // target's fault, so nothing is recorded after that point.
    let recording = true;
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
      signal,
      share,
    );
    fire = scenario.iterate;
    // In the closed model a VU thinks after each iteration too, as a k6 script ending in sleep().
    iterateVu = async (startedAt) => {
      await scenario.iterate(startedAt);
      await scenario.thinkAfterIteration();
    };
    stopRecording = () => {
      recording = false;
    };
    close = () => Promise.all([...pools.values()].map((item) => item.destroy().catch(() => undefined)));
  }

  let graceTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    graceTimer = setTimeout(() => {
      stopRecording();
      void close();
    }, options.abortGraceMs);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });

  const timing = { start, ...(share ? { share } : {}) };
  try {
    if (executor.kind === "constant-arrival-rate" || executor.kind === "ramping-arrival-rate") {
      await runArrivalRate(executor, fire, metrics, signal, timing);
    } else if (executor.kind === "ramping-vus") {
      await runRampingVus(executor, iterateVu, signal, undefined, timing);
    } else if (sender) {
      // A URL run's VUs chain their requests through callbacks (url-sender.ts): same loop.
      await sender.runConstantVus(executor.vus, start, executor.durationMs, signal);
    } else {
      await runConstantVus(executor, iterateVu, signal, timing);
    }
    return performance.now();
  } finally {
    if (graceTimer) clearTimeout(graceTimer);
    signal.removeEventListener("abort", onAbort);
    stopRecording();
    await close();
  }
}
