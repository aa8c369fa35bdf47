/**
 * Soak analysis: does something drift upwards over the run? For each series of the timeline —
 * corrected p99, error rate, the target's memory (when probed) and the generator's own memory —
 * an ordinary least-squares line y = a + b·t is fitted over the intervals, leaving out the first
 * 10 % (warm-up: JIT, connection set-up, caches filling). From the fit:
 *
 *   start  = a + b·t_first      end = a + b·t_last      (fitted values, so one outlier at either
 *                                                       end does not decide)
 *   change = (end − start) / start   (relative; for error rate: end − start, absolute)
 *   r2     = share of the variance the line explains
 *
 * A series drifts when its change passes the bound AND r2 ≥ 0.5 (a steady climb, not noise
 * or a single jump): memory +10 % (the issue's ±10 % flatness), p99 +50 %, error rate +1
 * percentage point. Judged only with at least 10 fitted intervals; docs/load.md ("Soak
 * analysis") explains why a real soak should still run much longer.
 */
import type { IntervalSample } from "./timeline.js";

export const MIN_SAMPLES = 10;
export const WARM_UP_SHARE = 0.1;
export const MIN_R2 = 0.5;
export const BOUNDS = { memory: 0.1, p99: 0.5, errorRate: 0.01 } as const;

export interface Trend {
  /** False when there were too few samples to judge; the other figures are then null. */
  readonly judged: boolean;
  readonly samples: number;
  /** Fitted value at the first and last fitted interval (unit of the series). */
  readonly start: number | null;
  readonly end: number | null;
  /** Relative change (memory, p99) or absolute change (error rate) from start to end. */
  readonly change: number | null;
  /** Slope per hour, unit of the series. */
  readonly slopePerHour: number | null;
  readonly r2: number | null;
  readonly drift: boolean;
}

export interface Trends {
  /** ms */
  readonly p99: Trend;
  /** fraction */
  readonly errorRate: Trend;
  /** bytes; present when --target-pid or --prom-metric was given */
  readonly targetMemory?: Trend;
  /**
   * bytes, the generator's resident set. Informational: its `drift` is computed the same way
   * but not listed in `drifting` (a short run's generator grows while it warms up; the 10-minute
   * flatness check is in bench/load).
   */
  readonly generatorMemory: Trend;
  /** Series about the target that drift, by name; empty when none. */
  readonly drifting: readonly string[];
}

export function analyseTrends(timeline: readonly IntervalSample[], withTargetMemory: boolean): Trends {
  const skip = Math.floor(timeline.length * WARM_UP_SHARE);
  const fitted = timeline.slice(skip);
  const points = (pick: (sample: IntervalSample) => number | null | undefined) =>
    fitted.flatMap((sample) => {
      const value = pick(sample);
      return value === null || value === undefined || !Number.isFinite(value)
        ? []
        : [{ t: (sample.startMs + sample.endMs) / 2000, y: value }];
    });
  const p99 = trend(
    points((sample) => sample.latency.p99),
    BOUNDS.p99,
    true,
  );
  const errorRate = trend(
    points((sample) => sample.errorRate),
    BOUNDS.errorRate,
    false,
  );
  const generatorMemory = trend(
    points((sample) => sample.generator.rssBytes),
    BOUNDS.memory,
    true,
  );
  const targetMemory = withTargetMemory
    ? trend(
        points((sample) => sample.targetMemoryBytes),
        BOUNDS.memory,
        true,
      )
    : undefined;
  const drifting = Object.entries({ p99, errorRate, targetMemory })
    .filter(([, value]) => value?.drift)
    .map(([name]) => name);
  return { p99, errorRate, ...(targetMemory ? { targetMemory } : {}), generatorMemory, drifting };
}

/** Least-squares fit of y over t (seconds) and the drift verdict. */
export function trend(points: readonly { t: number; y: number }[], bound: number, relative: boolean): Trend {
  const n = points.length;
  if (n < MIN_SAMPLES) {
    return {
      judged: false,
      samples: n,
      start: null,
      end: null,
      change: null,
      slopePerHour: null,
      r2: null,
      drift: false,
    };
  }
  let sumT = 0;
  let sumY = 0;
  for (const point of points) {
    sumT += point.t;
    sumY += point.y;
  }
  const meanT = sumT / n;
  const meanY = sumY / n;
  let stt = 0;
  let sty = 0;
  let syy = 0;
  for (const point of points) {
    stt += (point.t - meanT) ** 2;
    sty += (point.t - meanT) * (point.y - meanY);
    syy += (point.y - meanY) ** 2;
  }
  const slope = stt === 0 ? 0 : sty / stt;
  const intercept = meanY - slope * meanT;
  // A perfectly flat series explains nothing and needs nothing explained: r2 = 0, no drift.
  const r2 = syy === 0 || stt === 0 ? 0 : (sty * sty) / (stt * syy);
  const start = intercept + slope * points[0]!.t;
  const end = intercept + slope * points.at(-1)!.t;
  let change: number;
  if (!relative) change = end - start;
  else if (start > 0) change = (end - start) / start;
  else change = end > 0 ? Number.POSITIVE_INFINITY : 0;
  return {
    judged: true,
    samples: n,
    start: round(start),
    end: round(end),
    change: Number.isFinite(change) ? round(change) : null,
    slopePerHour: round(slope * 3600),
    r2: round(r2),
    drift: change >= bound && r2 >= MIN_R2,
  };
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
