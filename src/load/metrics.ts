/**
 * Everything one run measures, in constant memory: two latency histograms (corrected and
 * service time), a one-second interval histogram for progress lines, a histogram of the current
 * timeline interval (handed over by takeSpan() for the timeline and sliding-window thresholds),
 * counts per status code and per error class, and bytes received.
 *
 * What counts as an error (docs/load.md): a transport failure (connect, timeout, reset, tls,
 * other) or a response with status >= 500 (class `http`). A 4xx response is an answer the target
 * chose to give; it is counted in `statusCodes` and `clientErrors`, not in `errors`.
 */
import { ERROR_CLASSES, type ErrorClass } from "./error-class.js";
import { LatencyHistogram, type LatencySummary } from "./histogram.js";

export type Outcome =
  | { readonly kind: "response"; readonly status: number; readonly bytes: number }
  | { readonly kind: "failure"; readonly errorClass: Exclude<ErrorClass, "http">; readonly bytes: number };

/**
 * What one worker thread recorded since its last report (docs/load.md, "Worker threads"): plain
 * data for postMessage, histograms in HdrHistogram's compressed Base64 form (null when empty).
 */
export interface MetricsDelta {
  readonly requests: number;
  readonly errors: number;
  readonly clientErrors: number;
  readonly dropped: number;
  readonly bytesReceived: number;
  readonly statusCodes: readonly (readonly [number, number])[];
  readonly errorsByClass: Readonly<Record<ErrorClass, number>>;
  readonly corrected: string | null;
  readonly serviceTime: string | null;
}

export class RunMetrics {
  /** Latency from the intended send time (open model) — the figure users feel. */
  readonly corrected = new LatencyHistogram();
  /** Latency from the moment the request was actually handed to the connection. */
  readonly serviceTime = new LatencyHistogram();
  /** Corrected latency of the current progress interval; reset by takeInterval(). */
  readonly #interval = new LatencyHistogram();
  #intervalRequests = 0;
  #intervalErrors = 0;
  /** Corrected latency of the current timeline interval; copied out and reset by takeSpan(). */
  readonly #span = new LatencyHistogram();
  #spanRequests = 0;
  #spanErrors = 0;

  requests = 0;
  errors = 0;
  clientErrors = 0;
  dropped = 0;
  bytesReceived = 0;
  readonly statusCodes = new Map<number, number>();
  readonly errorsByClass: Record<ErrorClass, number> = Object.fromEntries(
    ERROR_CLASSES.map((name) => [name, 0]),
  ) as Record<ErrorClass, number>;

  /**
   * Records one finished request. Times are performance.now() milliseconds. Transport failures
   * are not put in the latency histograms: a refused connection fails in microseconds and would
   * make latency look better the worse the target is.
   */
  record(outcome: Outcome, intendedAt: number, sentAt: number, doneAt: number): void {
    if (outcome.kind === "failure") this.recordFailure(outcome.errorClass, outcome.bytes);
    else this.recordResponse(outcome.status, outcome.bytes, intendedAt, sentAt, doneAt);
  }

  /** A transport failure (no response): counted, never put in the latency histograms. */
  recordFailure(errorClass: Exclude<ErrorClass, "http">, bytes: number): void {
    this.requests++;
    this.#intervalRequests++;
    this.#spanRequests++;
    this.bytesReceived += bytes;
    this.errors++;
    this.#intervalErrors++;
    this.#spanErrors++;
    this.errorsByClass[errorClass]++;
  }

  /** A response (any status); its latency goes into the histograms. */
  recordResponse(status: number, bytes: number, intendedAt: number, sentAt: number, doneAt: number): void {
    this.requests++;
    this.#intervalRequests++;
    this.#spanRequests++;
    this.bytesReceived += bytes;
    this.statusCodes.set(status, (this.statusCodes.get(status) ?? 0) + 1);
    if (status >= 500) {
      this.errors++;
      this.#intervalErrors++;
      this.#spanErrors++;
      this.errorsByClass.http++;
    } else if (status >= 400) {
      this.clientErrors++;
    }
    const latency = doneAt - intendedAt;
    this.corrected.recordMs(latency);
    this.#interval.recordMs(latency);
    this.#span.recordMs(latency);
    this.serviceTime.recordMs(doneAt - sentAt);
  }

  /** Requests, errors and corrected p99 since the last call; starts a new interval. */
  takeInterval(): { requests: number; errors: number; p99: number | null } {
    const result = {
      requests: this.#intervalRequests,
      errors: this.#intervalErrors,
      p99: this.#interval.percentileMs(99),
    };
    this.#interval.reset();
    this.#intervalRequests = 0;
    this.#intervalErrors = 0;
    return result;
  }

  /**
   * The current timeline interval's requests, errors and corrected-latency histogram; starts a
   * new one. The histogram is a packed copy (~100 bytes when empty, a few KB when full), because
   * sliding windows keep it; recording goes to a plain histogram, which is faster per value.
   */
  takeSpan(): { requests: number; errors: number; histogram: LatencyHistogram; latency: LatencySummary } {
    const latency = this.#span.summary();
    const histogram = new LatencyHistogram({ packed: true });
    histogram.add(this.#span);
    const result = { requests: this.#spanRequests, errors: this.#spanErrors, histogram, latency };
    this.#span.reset();
    this.#spanRequests = 0;
    this.#spanErrors = 0;
    return result;
  }

  /** Everything recorded since the last reset, as plain data (a worker's report). */
  toDelta(): MetricsDelta {
    return {
      requests: this.requests,
      errors: this.errors,
      clientErrors: this.clientErrors,
      dropped: this.dropped,
      bytesReceived: this.bytesReceived,
      statusCodes: [...this.statusCodes],
      errorsByClass: { ...this.errorsByClass },
      corrected: this.corrected.count === 0 ? null : this.corrected.encode(),
      serviceTime: this.serviceTime.count === 0 ? null : this.serviceTime.encode(),
    };
  }

  /** Starts from nothing again (a worker, after handing its delta over). */
  reset(): void {
    this.corrected.reset();
    this.serviceTime.reset();
    this.#interval.reset();
    this.#span.reset();
    this.#intervalRequests = this.#intervalErrors = this.#spanRequests = this.#spanErrors = 0;
    this.requests = this.errors = this.clientErrors = this.dropped = this.bytesReceived = 0;
    this.statusCodes.clear();
    for (const name of ERROR_CLASSES) this.errorsByClass[name] = 0;
  }

  /**
   * Adds a worker's delta as if its requests had been recorded here: totals, the progress
   * interval and the timeline interval. Histograms merge bucket by bucket (exact).
   */
  absorb(delta: MetricsDelta): void {
    this.requests += delta.requests;
    this.#intervalRequests += delta.requests;
    this.#spanRequests += delta.requests;
    this.errors += delta.errors;
    this.#intervalErrors += delta.errors;
    this.#spanErrors += delta.errors;
    this.clientErrors += delta.clientErrors;
    this.dropped += delta.dropped;
    this.bytesReceived += delta.bytesReceived;
    for (const [status, count] of delta.statusCodes)
      this.statusCodes.set(status, (this.statusCodes.get(status) ?? 0) + count);
    for (const name of ERROR_CLASSES) this.errorsByClass[name] += delta.errorsByClass[name];
    if (delta.corrected !== null) {
      const corrected = LatencyHistogram.decode(delta.corrected);
      this.corrected.add(corrected);
      this.#interval.add(corrected);
      this.#span.add(corrected);
    }
    if (delta.serviceTime !== null) this.serviceTime.add(LatencyHistogram.decode(delta.serviceTime));
  }
}
