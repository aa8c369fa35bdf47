/**
 * The run's timeline: one sample per interval with its own latency percentiles (from that
 * interval's histogram, not a running total), throughput, errors, dropped iterations, generator
 * health and, when asked, the target's memory. It feeds sliding-window thresholds, soak trends,
 * the HTML/Markdown charts and `bulwark load compare`.
 *
 * Memory stays bounded whatever the run length: the interval is 1 s for runs up to 20 minutes
 * and grows (whole seconds) so a run never has more than MAX_INTERVALS samples — a 12-hour soak
 * gets 36 s intervals, 1,200 samples.
 */
import type { HealthSample } from "./generator-health.js";
import type { LatencySummary } from "./histogram.js";

export const MAX_INTERVALS = 1200;

export function timelineIntervalMs(durationMs: number): number {
  return Math.max(1000, Math.ceil(durationMs / MAX_INTERVALS / 1000) * 1000);
}

export interface IntervalSample {
  /** ms after the start of the run. */
  readonly startMs: number;
  readonly endMs: number;
  readonly requests: number;
  readonly rps: number;
  readonly errors: number;
  /** errors / requests; null when there were no requests. */
  readonly errorRate: number | null;
  readonly dropped: number;
  /** Corrected latency of this interval's responses, ms. */
  readonly latency: LatencySummary;
  readonly generator: HealthSample;
  /** Target memory at the end of the interval (bytes), when --target-pid or --prom-metric is set. */
  targetMemoryBytes?: number | null;
}
