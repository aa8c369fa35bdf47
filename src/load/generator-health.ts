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
}

export class GeneratorHealth {
  readonly #interval: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  readonly #run: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  #elu = performance.eventLoopUtilization();
  readonly #runElu = this.#elu;
  #cpu = process.cpuUsage();
  readonly #runCpu = this.#cpu;
  #at = performance.now();
  readonly #startedAt = this.#at;

  constructor() {
    this.#interval.enable();
    this.#run.enable();
  }

  /** Health since the previous sample (or the start). */
  sample(): HealthSample {
    const now = performance.now();
    const wallUs = Math.max(1, (now - this.#at) * 1000);
    const cpu = process.cpuUsage(this.#cpu);
    const elu = performance.eventLoopUtilization(this.#elu);
    const lagMaxMs = lateness(this.#interval.count > 0 ? this.#interval.max : 0);
    this.#interval.reset();
    this.#elu = performance.eventLoopUtilization();
    this.#cpu = process.cpuUsage();
    this.#at = now;
    return {
      cpu: round((cpu.user + cpu.system) / wallUs),
      utilization: round(elu.utilization),
      lagMaxMs: round(lagMaxMs),
      rssBytes: process.memoryUsage.rss(),
    };
  }

  /** Run-level figures; stops the monitors. */
  finish(): { cpu: number; utilization: number; lagP99Ms: number; lagMaxMs: number } {
    const wallUs = Math.max(1, (performance.now() - this.#startedAt) * 1000);
    const cpu = process.cpuUsage(this.#runCpu);
    const elu = performance.eventLoopUtilization(this.#runElu);
    const measured = this.#run.count > 0;
    const result = {
      cpu: round((cpu.user + cpu.system) / wallUs),
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
  run: ReturnType<GeneratorHealth["finish"]>,
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
