/**
 * Closes one timeline interval at a time while a run goes: takes each scope's interval histogram
 * and counts from RunMetrics, samples generator health and (when asked) the target's memory,
 * feeds sliding-window thresholds, and decides whether an `abortOnFail` threshold stops the run.
 */
import {
  GeneratorHealth,
  type GeneratorSummary,
  type HealthSample,
  type HealthSource,
  judgeGenerator,
} from "./generator-health.js";
import type { RunMetrics } from "./metrics.js";
import { type Span, WindowTracker } from "./threshold-windows.js";
import { evaluateThreshold, scopeInputs, type Threshold, type ThresholdResult } from "./thresholds.js";
import type { IntervalSample } from "./timeline.js";

/** Reads the target's memory in bytes; null when the reading failed (counted, never fatal). */
export type MemoryProbe = () => Promise<number | null>;

export interface AbortedBy {
  readonly expression: string;
  /** ms after the start. */
  readonly atMs: number;
  readonly actual: number | null;
}

export interface SamplerResult {
  readonly timeline: readonly IntervalSample[];
  readonly generator: GeneratorSummary;
  /** Results of `over` thresholds, indexed as the plan's thresholds (undefined for whole-run ones). */
  readonly windowResults: readonly (ThresholdResult | undefined)[];
  readonly abortedBy: AbortedBy | undefined;
  /** Memory readings that failed (unreachable metric URL, process gone). */
  readonly memoryErrors: number;
}

export class IntervalSampler {
  readonly #thresholds: readonly Threshold[];
  readonly #metrics: RunMetrics;
  readonly #byName: ReadonlyMap<string, RunMetrics>;
  readonly #start: number;
  readonly #memory: MemoryProbe | undefined;
  readonly #onAbort: (abortedBy: AbortedBy) => void;
  readonly #health: HealthSource;
  readonly #trackers: (WindowTracker | undefined)[];
  readonly #timeline: IntervalSample[] = [];
  readonly #pendingMemory: Promise<void>[] = [];
  #last = 0;
  #lastSpans: Map<string | undefined, Span> | undefined;
  readonly #intervalMs: number;
  #lastDropped = 0;
  #abortedBy: AbortedBy | undefined;
  #memoryErrors = 0;
  lastHealth: HealthSample | undefined;

  constructor(options: {
    thresholds: readonly Threshold[];
    metrics: RunMetrics;
    byName: ReadonlyMap<string, RunMetrics>;
    start: number;
    intervalMs: number;
    memory?: MemoryProbe | undefined;
    onAbort: (abortedBy: AbortedBy) => void;
    /** Default: this thread (and process); a worker-thread run passes its workers' health. */
    health?: HealthSource | undefined;
  }) {
    this.#health = options.health ?? new GeneratorHealth();
    this.#thresholds = options.thresholds;
    this.#metrics = options.metrics;
    this.#byName = options.byName;
    this.#start = options.start;
    this.#memory = options.memory;
    this.#onAbort = options.onAbort;
    this.#intervalMs = options.intervalMs;
    this.#trackers = options.thresholds.map((threshold) =>
      threshold.windowMs === undefined ? undefined : new WindowTracker(threshold, options.intervalMs),
    );
  }

  /** performance.now() at which the last closed interval ended (the start before any). */
  get closedUntil(): number {
    return this.#start + this.#last;
  }

  /** Closes the interval ending now; `final` at the end of the run (nothing left to abort). */
  close(now: number, final = false): IntervalSample {
    const { spans, health } = this.#take(now);
    this.#lastSpans = spans;
    const sample = this.#sample(spans.get(undefined)!, health);
    this.#timeline.push(sample);
    this.#probeMemory(sample);
    this.#thresholds.forEach((threshold, index) => {
      const tracker = this.#trackers[index];
      let result: ThresholdResult | undefined;
      if (tracker) result = tracker.push(spans.get(threshold.scope)!);
      else if (threshold.abortOnFail) result = this.#cumulative(threshold, spans.get(undefined)!.endMs);
      if (result && !result.ok && threshold.abortOnFail && !final && !this.#abortedBy) {
        this.#abortedBy = {
          expression: threshold.expression,
          atMs: Math.round(spans.get(undefined)!.endMs),
          actual: result.actual,
        };
        this.#onAbort(this.#abortedBy);
      }
    });
    return sample;
  }

  /** Takes every scope's interval figures and the generator's health since the last close. */
  #take(now: number): { spans: Map<string | undefined, Span>; health: HealthSample } {
    const startMs = this.#last;
    const endMs = now - this.#start;
    this.#last = endMs;
    const dropped = this.#metrics.dropped - this.#lastDropped;
    this.#lastDropped = this.#metrics.dropped;
    const spans = new Map<string | undefined, Span>();
    const total: Span = { startMs, endMs, dropped, ...this.#metrics.takeSpan() };
    spans.set(undefined, total);
    for (const [name, named] of this.#byName) {
      // A URL run's one name is the totals object itself (run.ts): share the span.
      spans.set(name, named === this.#metrics ? total : { startMs, endMs, dropped: 0, ...named.takeSpan() });
    }
    const health = this.#health.sample();
    this.lastHealth = health;
    return { spans, health };
  }

  #sample(total: Span, health: HealthSample): IntervalSample {
    const seconds = Math.max((total.endMs - total.startMs) / 1000, 0.001);
    return {
      startMs: Math.round(total.startMs),
      endMs: Math.round(total.endMs),
      requests: total.requests,
      rps: Math.round((total.requests / seconds) * 100) / 100,
      errors: total.errors,
      errorRate: total.requests === 0 ? null : total.errors / total.requests,
      dropped: total.dropped,
      latency: total.latency ?? total.histogram.summary(),
      generator: health,
    };
  }

  #probeMemory(sample: IntervalSample): void {
    if (!this.#memory) return;
    this.#pendingMemory.push(
      this.#memory().then(
        (bytes) => {
          if (bytes === null) this.#memoryErrors++;
          sample.targetMemoryBytes = bytes;
        },
        () => {
          this.#memoryErrors++;
          sample.targetMemoryBytes = null;
        },
      ),
    );
  }

  /**
   * Folds a short last interval (the drain after the schedule ends, usually a few ms to a few
   * hundred) into the one before: on its own it would show a nonsense rps and make `rps > N over
   * W` fail on the tail of every run.
   */
  #foldTail(now: number): void {
    const { spans, health } = this.#take(now);
    const previous = this.#lastSpans!;
    const merged = new Set<Span>();
    for (const [scope, tail] of spans) {
      const into = previous.get(scope)!;
      // Shared spans (a URL run's "default" is the totals) are folded once.
      if (merged.has(into)) continue;
      merged.add(into);
      into.endMs = tail.endMs;
      into.requests += tail.requests;
      into.errors += tail.errors;
      into.dropped += tail.dropped;
      into.histogram.add(tail.histogram);
      into.latency = undefined;
    }
    const last = this.#timeline.pop()!;
    const total = previous.get(undefined)!;
    const before = last.endMs - last.startMs;
    const after = total.endMs - total.startMs - before;
    const weigh = (a: number, b: number) =>
      Math.round(((a * before + b * after) / Math.max(before + after, 1)) * 1000) / 1000;
    const folded = this.#sample(total, {
      cpu: weigh(last.generator.cpu, health.cpu),
      utilization: weigh(last.generator.utilization, health.utilization),
      lagMaxMs: Math.max(last.generator.lagMaxMs, health.lagMaxMs),
      rssBytes: health.rssBytes,
    });
    if (last.targetMemoryBytes !== undefined) folded.targetMemoryBytes = last.targetMemoryBytes;
    this.#timeline.push(folded);
    for (const tracker of this.#trackers) tracker?.amendLast();
  }

  /** A whole-run threshold evaluated on the run so far (for abortOnFail). */
  #cumulative(threshold: Threshold, elapsedMs: number): ThresholdResult {
    const scope = threshold.scope === undefined ? this.#metrics : this.#byName.get(threshold.scope)!;
    return evaluateThreshold(threshold, scopeInputs(scope, elapsedMs / 1000, this.#metrics.dropped));
  }

  /** Closes the last interval (folded into the previous one when shorter than half) and summarises. */
  async finish(now: number): Promise<SamplerResult> {
    if (this.#lastSpans && now - this.#start - this.#last < this.#intervalMs / 2) this.#foldTail(now);
    else this.close(now, true);
    const run = this.#health.finish();
    await Promise.all(this.#pendingMemory);
    const judged = judgeGenerator(
      this.#timeline.map((sample) => ({ ...sample.generator, dropped: sample.dropped })),
      run,
    );
    // One worker's figures are the run's: listed per worker only when there are several.
    const workers = this.#health.workers?.();
    return {
      timeline: this.#timeline,
      generator: workers && workers.length > 1 ? { ...judged, workers } : judged,
      windowResults: this.#trackers.map((tracker) => tracker?.finish()),
      abortedBy: this.#abortedBy,
      memoryErrors: this.#memoryErrors,
    };
  }
}
