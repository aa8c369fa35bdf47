/**
 * The generator watches itself (issue 5): a load tester whose own event loop is saturated sends
 * late and reads answers late, and that lateness lands in the corrected latency as if the target
 * had caused it. Three signals are sampled per timeline interval:
 *
 * - event-loop utilization (performance.eventLoopUtilization): the share of wall time the JS
 *   thread was running rather than waiting in the poll phase. All sending, timing and parsing
 *   happens on that one thread, so ~1.0 means the generator, not the target, set the pace.
 * - event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution): how late timers
 *   fire. A value of 10 ms is on time; a 1 s block records one ~1,010 ms sample.
 * - process CPU (process.cpuUsage, user + system, all threads) as a fraction of one core. Used
 *   only over the whole run: per interval, GC and libuv helper threads make it noisy.
 *
 * The rule that marks a run invalid is in judgeGenerator() and docs/load.md.
 */
import { type IntervalHistogram, monitorEventLoopDelay, performance } from "node:perf_hooks";
import { threadCpuMicros } from "./thread-cpu.js";

/** Sampling resolution of the event-loop delay monitor. */
const RESOLUTION_MS = 10;
/** An interval is generator-bound when its event loop was busy at least this share of the time… */
export const BOUND_UTILIZATION = 0.9;
/** …or when one event-loop stall (timer lateness) reached this long. */
export const BOUND_STALL_MS = 100;
/** A run is invalid when at least this share of its intervals, and at least two, were bound. */
export const BOUND_INTERVAL_SHARE = 0.1;
/** One bound interval is a hiccup (a GC pause, the OS scheduling others); two are a pattern. */
export const MIN_BOUND_INTERVALS = 2;

export interface HealthSample {
  /** Process CPU over the interval, fraction of one core (user + system, all threads). */
  readonly cpu: number;
  /** Event-loop utilization over the interval, 0–1. */
  readonly utilization: number;
  /** Longest timer lateness in the interval, ms (0 when none was measured). */
  readonly lagMaxMs: number;
  /** Resident set size of the generator at the end of the interval, bytes. */
  readonly rssBytes: number;
}

/** Whole-run figures of one thread (GeneratorHealth.finish). */
export interface RunHealth {
  readonly cpu: number;
  readonly utilization: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
}

/** Where the interval sampler gets health from: this thread, or the busiest worker thread. */
export interface HealthSource {
  sample(): HealthSample;
  finish(): RunHealth;
  /** Per-worker figures, for a run split across worker threads. */
  workers?(): readonly WorkerHealth[];
}

/** One worker thread's whole-run health (docs/load.md, "Worker threads"). */
export interface WorkerHealth extends RunHealth {
  readonly worker: number;
  /** Intervals in which this worker was bound (event loop busy ≥ 90 % or a stall ≥ 100 ms). */
  readonly boundIntervals: number;
  readonly valid: boolean;
}

export interface GeneratorSummary {
  readonly valid: boolean;
  /** Why the run is invalid; empty when valid. */
  readonly reasons: readonly string[];
  /** Process CPU over the run, fraction of one core; `max` is the busiest interval. */
  readonly cpu: { readonly mean: number; readonly max: number };
  readonly eventLoop: {
    /** Event-loop utilization over the whole run, 0–1. */
    readonly utilization: number;
    /** Timer lateness over the run, ms: 99th percentile and worst. */
    readonly lagP99Ms: number;
    readonly lagMaxMs: number;
  };
  /** Intervals that were generator-bound (utilization ≥ 0.9 or a stall ≥ 100 ms), of all intervals. */
  readonly boundIntervals: number;
  readonly intervals: number;
  /** Iterations dropped during generator-bound intervals. */
  readonly droppedWhileBound: number;
  /** Generator resident memory: first and last interval, and the largest seen, bytes. */
  readonly rss: { readonly first: number; readonly last: number; readonly max: number };
  /**
   * Set when the run was split across worker threads: each worker's own figures. `cpu`,
   * `eventLoop` and the timeline's `generator` are then the busiest worker's, per interval.
   */
  readonly workers?: readonly WorkerHealth[];
}

export class GeneratorHealth implements HealthSource {
  readonly #interval: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  readonly #run: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  #elu = performance.eventLoopUtilization();
  readonly #runElu = this.#elu;
  /**
   * CPU time in µs: of the whole process (the single-threaded generator, whose helper threads
   * — GC, libuv — work for it), or of this thread alone (one of several workers).
   */
  readonly #cpuMicros: () => number;
  #cpu: number;
  readonly #runCpu: number;
  #at = performance.now();
  readonly #startedAt = this.#at;

  constructor(options: { thread?: boolean } = {}) {
    const processCpu = () => {
      const usage = process.cpuUsage();
      return usage.user + usage.system;
    };
    this.#cpuMicros =
      options.thread && threadCpuMicros() !== undefined ? () => threadCpuMicros() ?? 0 : processCpu;
    this.#cpu = this.#cpuMicros();
    this.#runCpu = this.#cpu;
    this.#interval.enable();
    this.#run.enable();
  }

  /** Health since the previous sample (or the start). */
  sample(): HealthSample {
    const now = performance.now();
    const wallUs = Math.max(1, (now - this.#at) * 1000);
    const cpuNow = this.#cpuMicros();
    const elu = performance.eventLoopUtilization(this.#elu);
    const lagMaxMs = lateness(this.#interval.count > 0 ? this.#interval.max : 0);
    this.#interval.reset();
    this.#elu = performance.eventLoopUtilization();
    const cpuUs = cpuNow - this.#cpu;
    this.#cpu = cpuNow;
    this.#at = now;
    return {
      cpu: round(cpuUs / wallUs),
      utilization: round(elu.utilization),
      lagMaxMs: round(lagMaxMs),
      rssBytes: process.memoryUsage.rss(),
    };
  }

  /** Run-level figures; stops the monitors. */
  finish(): RunHealth {
    const wallUs = Math.max(1, (performance.now() - this.#startedAt) * 1000);
    const cpuUs = this.#cpuMicros() - this.#runCpu;
    const elu = performance.eventLoopUtilization(this.#runElu);
    const measured = this.#run.count > 0;
    const result = {
      cpu: round(cpuUs / wallUs),
      utilization: round(elu.utilization),
      lagP99Ms: round(measured ? lateness(this.#run.percentile(99)) : 0),
      lagMaxMs: round(measured ? lateness(this.#run.max) : 0),
    };
    this.#interval.disable();
    this.#run.disable();
    return result;
  }
}

/** The monitor records the time between ticks (ns); lateness is what exceeds the resolution. */
function lateness(ns: number): number {
  return Math.max(0, ns / 1e6 - RESOLUTION_MS);
}

/**
 * Several worker threads' samples of one interval as one: each figure is the busiest worker's,
 * so the interval is generator-bound when any worker was (docs/load.md, "Worker threads").
 * Memory is the process's (shared by all threads).
 */
export function busiestSample(samples: readonly HealthSample[], rssBytes: number): HealthSample {
  return {
    cpu: Math.max(0, ...samples.map((sample) => sample.cpu)),
    utilization: Math.max(0, ...samples.map((sample) => sample.utilization)),
    lagMaxMs: Math.max(0, ...samples.map((sample) => sample.lagMaxMs)),
    rssBytes,
  };
}

/** Several worker threads' whole-run figures as one: the busiest worker's. */
export function busiestRun(runs: readonly RunHealth[]): RunHealth {
  return {
    cpu: Math.max(0, ...runs.map((run) => run.cpu)),
    utilization: Math.max(0, ...runs.map((run) => run.utilization)),
    lagP99Ms: Math.max(0, ...runs.map((run) => run.lagP99Ms)),
    lagMaxMs: Math.max(0, ...runs.map((run) => run.lagMaxMs)),
  };
}

export function isBound(sample: HealthSample): boolean {
  return sample.utilization >= BOUND_UTILIZATION || sample.lagMaxMs >= BOUND_STALL_MS;
}

/**
 * The validity rule (docs/load.md, "Generator health"). A run is invalid when
 *  1. at least 10 % of its intervals, and at least two, were generator-bound, or
 *  2. any iteration was dropped during a generator-bound interval, or
 *  3. over the whole run, the event loop was busy ≥ 90 % or the process used ≥ 90 % of one core.
 */
export function judgeGenerator(
  samples: readonly (HealthSample & { readonly dropped: number })[],
  run: RunHealth,
): GeneratorSummary {
  const bound = samples.filter(isBound);
  const droppedWhileBound = bound.reduce((sum, sample) => sum + sample.dropped, 0);
  const reasons: string[] = [];
  if (bound.length >= MIN_BOUND_INTERVALS && bound.length >= BOUND_INTERVAL_SHARE * samples.length) {
    reasons.push(
      `the generator was the bottleneck in ${bound.length} of ${samples.length} intervals (event loop busy ≥ ${BOUND_UTILIZATION * 100}% or stalled ≥ ${BOUND_STALL_MS} ms)`,
    );
  }
  if (droppedWhileBound > 0) {
    reasons.push(`${droppedWhileBound} iterations were dropped while the generator was the bottleneck`);
  }
  if (run.utilization >= BOUND_UTILIZATION || run.cpu >= BOUND_UTILIZATION) {
    reasons.push(
      `one core saturated: over the run the generator's event loop was busy ${Math.round(run.utilization * 100)}% and it used ${Math.round(run.cpu * 100)}% of a core`,
    );
  }
  const rss = samples.map((sample) => sample.rssBytes);
  return {
    valid: reasons.length === 0,
    reasons,
    cpu: { mean: run.cpu, max: Math.max(0, ...samples.map((sample) => sample.cpu)) },
    eventLoop: { utilization: run.utilization, lagP99Ms: run.lagP99Ms, lagMaxMs: run.lagMaxMs },
    boundIntervals: bound.length,
    intervals: samples.length,
    droppedWhileBound,
    rss: {
      first: rss[0] ?? process.memoryUsage.rss(),
      last: rss.at(-1) ?? process.memoryUsage.rss(),
      max: Math.max(0, ...rss),
    },
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
