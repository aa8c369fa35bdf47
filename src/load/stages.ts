/**
 * Stages of the ramping executors, with k6's semantics: each stage moves the VU count (or the
 * arrival rate) linearly from the previous stage's target (or the start value) to its own target
 * over its duration. Computed once per run; the hot path only evaluates the closed forms below.
 */

export interface Stage {
  readonly durationMs: number;
  readonly target: number;
}

export function totalDurationMs(stages: readonly Stage[]): number {
  return stages.reduce((sum, stage) => sum + stage.durationMs, 0);
}

/** The interpolated value (VUs or rate) at `elapsedMs` after the start. */
export function valueAt(start: number, stages: readonly Stage[], elapsedMs: number): number {
  let from = start;
  let offset = 0;
  for (const stage of stages) {
    if (elapsedMs < offset + stage.durationMs) {
      return from + ((stage.target - from) * (elapsedMs - offset)) / stage.durationMs;
    }
    offset += stage.durationMs;
    from = stage.target;
  }
  return from;
}

/**
 * When iteration `index` (0-based) is due, in ms after the start, for an arrival rate (per
 * second) that ramps linearly through `stages`; Infinity once the stages are over. The count of
 * arrivals by time t is the integral of the rate, so iteration i is due where that integral
 * reaches i — a quadratic within each stage (k6's ramping-arrival-rate does the same).
 */
export function arrivalSchedule(startRate: number, stages: readonly Stage[]): (index: number) => number {
  const segments: { offset: number; duration: number; r0: number; slope: number; before: number }[] = [];
  let from = startRate / 1000;
  let offset = 0;
  let before = 0;
  for (const stage of stages) {
    const to = stage.target / 1000;
    const slope = (to - from) / stage.durationMs;
    segments.push({ offset, duration: stage.durationMs, r0: from, slope, before });
    before += ((from + to) / 2) * stage.durationMs;
    offset += stage.durationMs;
    from = to;
  }
  const total = before;
  return (index) => {
    if (index >= total - 1e-9) return Number.POSITIVE_INFINITY;
    // Segments are few (a handful of stages), so a linear walk is cheaper than anything clever.
    for (const segment of segments) {
      const count = ((segment.r0 + segment.r0 + segment.slope * segment.duration) / 2) * segment.duration;
      if (index < segment.before + count - 1e-9) {
        const n = index - segment.before;
        const { r0, slope } = segment;
        const t =
          Math.abs(slope) < 1e-15 ? n / r0 : (-r0 + Math.sqrt(Math.max(0, r0 * r0 + 2 * slope * n))) / slope;
        return segment.offset + Math.min(Math.max(0, t), segment.duration);
      }
    }
    return Number.POSITIVE_INFINITY;
  };
}

/** The constant-rate schedule: iteration i at i / rate, Infinity from `durationMs` on. */
export function constantSchedule(rate: number, durationMs: number): (index: number) => number {
  const interval = 1000 / rate;
  return (index) => {
    const due = index * interval;
    return due >= durationMs ? Number.POSITIVE_INFINITY : due;
  };
}
