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
import { LatencyHistogram } from "./histogram.js";

export type Outcome =
  | { readonly kind: "response"; readonly status: number; readonly bytes: number }
  | { readonly kind: "failure"; readonly errorClass: Exclude<ErrorClass, "http">; readonly bytes: number };

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
    this.requests++;
    this.#intervalRequests++;
    this.#spanRequests++;
    this.bytesReceived += outcome.bytes;
    if (outcome.kind === "failure") {
      this.errors++;
      this.#intervalErrors++;
      this.#spanErrors++;
      this.errorsByClass[outcome.errorClass]++;
      return;
    }
    this.statusCodes.set(outcome.status, (this.statusCodes.get(outcome.status) ?? 0) + 1);
    if (outcome.status >= 500) {
      this.errors++;
      this.#intervalErrors++;
      this.#spanErrors++;
      this.errorsByClass.http++;
    } else if (outcome.status >= 400) {
      this.clientErrors++;
    }
    this.corrected.recordMs(doneAt - intendedAt);
    this.#interval.recordMs(doneAt - intendedAt);
    this.#span.recordMs(doneAt - intendedAt);
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
  takeSpan(): { requests: number; errors: number; histogram: LatencyHistogram } {
    const histogram = new LatencyHistogram({ packed: true });
    histogram.add(this.#span);
    const result = { requests: this.#spanRequests, errors: this.#spanErrors, histogram };
    this.#span.reset();
    this.#spanRequests = 0;
    this.#spanErrors = 0;
    return result;
  }
}
