/**
 * Latency histograms for load runs: HdrHistogram (hdr-histogram-js), constant memory whatever the
 * run length, 3 significant digits. Values are recorded in microseconds and read out in
 * milliseconds, so a 12-hour soak costs the same memory as a 10-second run (issue 5).
 */
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from "hdr-histogram-js";

/** Percentiles every report carries, in milliseconds; null when nothing was recorded. */
export interface LatencySummary {
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export class LatencyHistogram {
  readonly #histogram: Histogram;

  /**
   * `packed` trades some recording speed for memory (about 100 bytes empty instead of ~90 KB):
   * used for the per-interval histograms that sliding windows keep (docs/load.md).
   */
  constructor(options: { packed?: boolean } = {}) {
    this.#histogram = build({
      ...(options.packed ? { bitBucketSize: "packed" as const } : {}),
      lowestDiscernibleValue: 1,
      highestTrackableValue: 3_600_000_000, // one hour in µs; autoResize grows past it if ever needed
      numberOfSignificantValueDigits: 3,
      autoResize: true,
    });
  }

  /** Records one latency given in milliseconds (fractional); stored as whole microseconds. */
  recordMs(ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  /** The value at `percentile` (0–100) in milliseconds, or null when empty. */
  percentileMs(percentile: number): number | null {
    if (this.count === 0) return null;
    return roundMs(this.#histogram.getValueAtPercentile(percentile) / 1000);
  }

  maxMs(): number | null {
    if (this.count === 0) return null;
    return roundMs(this.#histogram.maxValue / 1000);
  }

  summary(): LatencySummary {
    return {
      p50: this.percentileMs(50),
      p90: this.percentileMs(90),
      p95: this.percentileMs(95),
      p99: this.percentileMs(99),
      max: this.maxMs(),
    };
  }

  /**
   * The histogram in HdrHistogram's compressed Base64 form (the format every HdrHistogram
   * implementation reads): a few KB, so summaries of several generators can be merged exactly.
   */
  encode(): string {
    return encodeIntoCompressedBase64(this.#histogram);
  }

  /** A histogram from encode()'s output; throws on anything else. */
  static decode(text: string): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.#histogram.add(decodeFromCompressedBase64(text));
    return histogram;
  }

  /** Adds every value of `other` (HdrHistogram merge: exact, bucket by bucket). */
  add(other: LatencyHistogram): void {
    this.#histogram.add(other.#histogram);
  }

  reset(): void {
    this.#histogram.reset();
  }
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
