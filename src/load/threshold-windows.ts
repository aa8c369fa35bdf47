/**
 * Sliding-window thresholds ("p(95)<200ms over 30s"): the bar must hold in every window of that
 * length, not only over the whole run — a 30 s brown-out disappears in a 1-hour p95. Windows are
 * made of whole timeline intervals: a window of W over intervals of I is the last ceil(W / I)
 * intervals, sliding by one interval. Latency percentiles of a window come from merging the
 * intervals' HDR histograms (exact, not an average of percentiles).
 *
 * The tracker keeps only the intervals of one window (ring), so memory does not grow with the
 * run. A run shorter than one window is evaluated as one (partial) window.
 */
import { LatencyHistogram, type LatencySummary } from "./histogram.js";
import { compare, measure, type Threshold, type ThresholdResult } from "./thresholds.js";

/** One closed timeline interval of one scope (all requests, or one request name). */
export interface Span {
  readonly startMs: number;
  endMs: number;
  requests: number;
  errors: number;
  dropped: number;
  readonly histogram: LatencyHistogram;
  /**
   * The histogram's percentiles, read before it was packed (metrics.ts takeSpan): reading them
   * from the packed copy walks its whole packed array once per percentile. Cleared when the
   * histogram changes.
   */
  latency?: LatencySummary | undefined;
}

interface Worst {
  readonly actual: number | null;
  readonly startMs: number;
  readonly endMs: number;
}

export class WindowTracker {
  readonly threshold: Threshold;
  readonly #size: number;
  readonly #ring: Span[] = [];
  readonly #merged = new LatencyHistogram();
  #windows = 0;
  #failed = 0;
  #worst: Worst | undefined;
  /** The tallies before the latest evaluation, so amendLast() can redo it. */
  #before: { windows: number; failed: number; worst: Worst | undefined } | undefined;

  constructor(threshold: Threshold, intervalMs: number) {
    this.threshold = threshold;
    this.#size = Math.max(1, Math.ceil((threshold.windowMs ?? intervalMs) / intervalMs - 1e-9));
  }

  /** Adds a closed interval; returns the evaluation of the window it completes, if any. */
  push(span: Span): ThresholdResult | undefined {
    this.#ring.push(span);
    if (this.#ring.length > this.#size) this.#ring.shift();
    if (this.#ring.length < this.#size) return undefined;
    return this.#evaluate();
  }

  /**
   * The newest interval grew (a short last interval was folded into it): evaluate the newest
   * window again in place of its earlier evaluation.
   */
  amendLast(): void {
    if (this.#before === undefined) return;
    this.#windows = this.#before.windows;
    this.#failed = this.#before.failed;
    this.#worst = this.#before.worst;
    this.#evaluate();
  }

  /** The threshold's result over every window seen (or the partial one when none was full). */
  finish(): ThresholdResult {
    if (this.#windows === 0 && this.#ring.length > 0) this.#evaluate();
    const worst = this.#worst;
    return {
      expression: this.threshold.expression,
      ok: this.#windows > 0 && this.#failed === 0,
      actual: worst?.actual ?? null,
      window: {
        durationMs: this.threshold.windowMs!,
        worstStartMs: Math.round(worst?.startMs ?? 0),
        worstEndMs: Math.round(worst?.endMs ?? 0),
        windows: this.#windows,
        failed: this.#failed,
        partial: this.#ring.length < this.#size,
      },
    };
  }

  #evaluate(): ThresholdResult {
    this.#before = { windows: this.#windows, failed: this.#failed, worst: this.#worst };
    const spans = this.#ring;
    this.#merged.reset();
    let requests = 0;
    let errors = 0;
    let dropped = 0;
    for (const span of spans) {
      this.#merged.add(span.histogram);
      requests += span.requests;
      errors += span.errors;
      dropped += span.dropped;
    }
    const startMs = spans[0]!.startMs;
    const endMs = spans.at(-1)!.endMs;
    const merged = this.#merged;
    const actual = measure(this.threshold.metric, {
      latency: merged,
      serviceTime: null, // service-time thresholds are whole-run only (thresholds.ts)
      errorRate: requests === 0 ? null : errors / requests,
      rps: requests / Math.max((endMs - startMs) / 1000, 0.001),
      dropped,
    });
    // A window with nothing to measure fails, as a whole-run threshold does (fail closed).
    const ok = actual !== null && compare(actual, this.threshold.operator, this.threshold.bound);
    this.#windows++;
    if (!ok) this.#failed++;
    if (this.#worst === undefined || worse(this.threshold, actual, this.#worst.actual)) {
      this.#worst = { actual, startMs, endMs };
    }
    return { expression: this.threshold.expression, ok, actual };
  }
}

/** Whether `a` is further on the failing side of the bound than `b` (null, no data, is worst). */
function worse(threshold: Threshold, a: number | null, b: number | null): boolean {
  if (b === null) return false;
  if (a === null) return true;
  switch (threshold.operator) {
    case "<":
    case "<=":
      return a > b;
    case ">":
    case ">=":
      return a < b;
    default:
      return (
        !compare(a, threshold.operator, threshold.bound) && compare(b, threshold.operator, threshold.bound)
      );
  }
}
