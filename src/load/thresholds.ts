/**
 * Thresholds: pass/fail bars over a run's summary, written as k6 writes them.
 *
 *   p(N) OP DURATION     corrected latency percentile, N in 0–100; DURATION like 200ms, 1s, 500us
 *                        (a plain number is milliseconds)
 *   max OP DURATION      largest corrected latency
 *   service_p(N), service_max
 *                        the same over service time (from the actual send, uncorrected: what
 *                        k6's http_req_duration measures); whole-run only
 *   error_rate OP RATE   errors / requests; RATE like 0.1% or 0.001
 *   rps OP NUMBER        completed requests per second
 *   dropped OP NUMBER    iterations never sent
 *   drifting OP NUMBER   series of the soak analysis that drift (p99, error rate, target
 *                        memory: trends.drifting); judged on the whole run at its end
 *
 * OP is one of < <= > >= == !=. Parsed once at the edge; evaluation only compares numbers.
 *
 * The full form (docs/load.md, "Thresholds"):
 *
 *   [NAME:] METRIC OP VALUE [over DURATION] [abortOnFail]
 *
 *   NAME:          only the requests of that scenario name ("login: p(95)<300ms")
 *   over DURATION  every sliding window of that length must pass, not just the whole run
 *                  ("p(95)<200ms over 30s"); evaluated on merged per-interval histograms
 *   abortOnFail    stop the run as soon as the threshold fails (partial report, exit 1)
 */
import { parseDuration } from "../config/units.js";
import { BulwarkError } from "../errors.js";

export type ThresholdMetric =
  | { readonly kind: "percentile"; readonly percentile: number; readonly service?: true }
  | { readonly kind: "max"; readonly service?: true }
  | { readonly kind: "error_rate" }
  | { readonly kind: "rps" }
  | { readonly kind: "dropped" }
  | { readonly kind: "drifting" };

export type Operator = "<" | "<=" | ">" | ">=" | "==" | "!=";

export interface Threshold {
  readonly expression: string;
  /** Request name the threshold is limited to; undefined for every request. */
  readonly scope?: string;
  /** Sliding window length; undefined for the whole run. */
  readonly windowMs?: number;
  /** Stop the run as soon as this threshold fails. */
  readonly abortOnFail?: boolean;
  readonly metric: ThresholdMetric;
  readonly operator: Operator;
  /** Bound in the metric's unit: milliseconds, a fraction, requests per second, a count. */
  readonly bound: number;
}

/** A latency histogram as thresholds read it. */
export interface LatencyReading {
  maxMs(): number | null;
  percentileMs(percentile: number): number | null;
}

/** What thresholds are evaluated against (units as in the JSON summary). */
export interface ThresholdInputs {
  /** Corrected latency (from the intended send time). */
  readonly latency: LatencyReading;
  /** Service time (from the actual send); null where it is not kept (sliding windows). */
  readonly serviceTime: LatencyReading | null;
  readonly errorRate: number | null;
  readonly rps: number;
  readonly dropped: number;
  /** How many series drift (trends.drifting); known only once the run is over. */
  readonly drifting?: number;
}

/** The inputs of one scope (the run, or one request name) from its counts and histograms. */
export function scopeInputs(
  scope: {
    readonly corrected: LatencyReading;
    readonly serviceTime: LatencyReading;
    readonly requests: number;
    readonly errors: number;
  },
  seconds: number,
  dropped: number,
): ThresholdInputs {
  return {
    latency: scope.corrected,
    serviceTime: scope.serviceTime,
    errorRate: scope.requests === 0 ? null : scope.errors / scope.requests,
    // Two decimals, as the summary shows rates.
    rps: Math.round((scope.requests / Math.max(seconds, 0.001)) * 100) / 100,
    dropped,
  };
}

export interface ThresholdResult {
  readonly expression: string;
  readonly ok: boolean;
  /** The measured value in the metric's unit; null when there was nothing to measure. */
  readonly actual: number | null;
  /** The request name of a `NAME:` threshold. */
  readonly scope?: string;
  /**
   * For `over D` thresholds: `actual` is the worst window; where it was (ms after the start),
   * how many full windows were evaluated and how many failed. `partial: true` when the run was
   * shorter than one window, so the whole run was evaluated as one.
   */
  readonly window?: {
    readonly durationMs: number;
    readonly worstStartMs: number;
    readonly worstEndMs: number;
    readonly windows: number;
    readonly failed: number;
    readonly partial: boolean;
  };
}

const SCOPE = /^\s*([A-Za-z0-9_.-]+)\s*:\s*(.*)$/s;
const ABORT = /\s+abortOnFail\s*$/;
const OVER = /\s+over\s+(\S+)\s*$/;

const SHAPE =
  /^\s*((?:service_)?p\(\s*(\d+(?:\.\d+)?)\s*\)|(?:service_)?max|error_rate|rps|dropped|drifting)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$/;
const DURATION = /^(\d+(?:\.\d+)?)(us|µs|ms|s|m)?$/;
const DURATION_MS: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000 };
const NUMBER = /^\d+(?:\.\d+)?$/;

export function parseThreshold(expression: string): Threshold {
  const fail = (why: string): never => {
    throw new BulwarkError("usage", `invalid threshold ${JSON.stringify(expression)}: ${why}`, {
      details: [
        "examples: 'p(95)<200ms'  'error_rate<0.1%'  'rps>50'  'dropped==0'  'max<2s'  'service_p(95)<200ms'",
        "          'login: p(95)<300ms'  'p(99)<1s over 30s'  'error_rate<1% over 1m abortOnFail'",
      ],
    });
  };
  let core = expression;
  const abortOnFail = ABORT.test(core);
  if (abortOnFail) core = core.replace(ABORT, "");
  let windowMs: number | undefined;
  const over = OVER.exec(core);
  if (over) {
    windowMs = parseDuration(over[1]!);
    if (windowMs === undefined || windowMs <= 0)
      return fail(`expected a window like "over 30s" or "over 5m", got ${JSON.stringify(over[1])}`);
    core = core.slice(0, over.index);
  }
  let scope: string | undefined;
  const scoped = SCOPE.exec(core);
  if (scoped) {
    scope = scoped[1]!;
    core = scoped[2]!;
  }
  const match = SHAPE.exec(core);
  if (!match)
    return fail(
      "expected [NAME:] METRIC OP VALUE [over DURATION] [abortOnFail] with METRIC one of p(N), max, service_p(N), service_max, error_rate, rps, dropped, drifting",
    );
  const [, name, percentileText, operator, valueText] = match as unknown as [
    string,
    string,
    string,
    Operator,
    string,
  ];
  let metric: ThresholdMetric;
  let bound: number;
  const service = name.startsWith("service_");
  const latencyName = service ? name.slice("service_".length) : name;
  if (latencyName.startsWith("p(") || latencyName === "max") {
    if (latencyName === "max") metric = { kind: "max", ...(service ? { service } : {}) };
    else {
      const percentile = Number(percentileText);
      if (!(percentile > 0 && percentile <= 100)) fail("percentile must be above 0 and at most 100");
      metric = { kind: "percentile", percentile, ...(service ? { service } : {}) };
    }
    // Sliding windows merge per-interval histograms of corrected latency only.
    if (service && windowMs !== undefined)
      fail(
        `${name} is evaluated over the whole run; remove "over ${over![1]}" (or use p(N)/max over windows)`,
      );
    const duration = DURATION.exec(valueText);
    if (!duration) return fail(`expected a duration like 200ms or 1s, got ${JSON.stringify(valueText)}`);
    bound = Number(duration[1]) * DURATION_MS[duration[2] ?? "ms"]!;
  } else if (name === "error_rate") {
    metric = { kind: "error_rate" };
    const percent = valueText.endsWith("%");
    const digits = percent ? valueText.slice(0, -1) : valueText;
    if (!NUMBER.test(digits))
      return fail(`expected a rate like 0.1% or 0.001, got ${JSON.stringify(valueText)}`);
    bound = percent ? Number(digits) / 100 : Number(digits);
    if (bound > 1) fail("a rate above 100% means nothing");
  } else {
    metric = { kind: name as "rps" | "dropped" | "drifting" };
    if (!NUMBER.test(valueText)) return fail(`expected a number, got ${JSON.stringify(valueText)}`);
    bound = Number(valueText);
  }
  if (scope !== undefined && metric.kind === "dropped")
    fail("dropped counts iterations, which have no request name; remove the NAME: prefix");
  if (metric.kind === "drifting") {
    // The trends are fitted over the whole timeline once the run is over.
    if (scope !== undefined) fail("drifting is judged on the whole run; remove the NAME: prefix");
    if (windowMs !== undefined) fail(`drifting is judged on the whole run; remove "over ${over![1]}"`);
    if (abortOnFail) fail("drifting is judged when the run is over; abortOnFail cannot stop it earlier");
  }
  return {
    expression: expression.trim(),
    metric,
    operator,
    bound,
    ...(scope === undefined ? {} : { scope }),
    ...(windowMs === undefined ? {} : { windowMs }),
    ...(abortOnFail ? { abortOnFail } : {}),
  };
}

export function evaluateThreshold(threshold: Threshold, inputs: ThresholdInputs): ThresholdResult {
  const actual = measure(threshold.metric, inputs);
  // No sample means the bar cannot be shown to hold, so it fails (fail closed).
  const ok = actual !== null && compare(actual, threshold.operator, threshold.bound);
  return { expression: threshold.expression, ok, actual };
}

export function measure(metric: ThresholdMetric, inputs: ThresholdInputs): number | null {
  switch (metric.kind) {
    case "percentile":
      return (metric.service ? inputs.serviceTime : inputs.latency)?.percentileMs(metric.percentile) ?? null;
    case "max":
      return (metric.service ? inputs.serviceTime : inputs.latency)?.maxMs() ?? null;
    case "error_rate":
      return inputs.errorRate;
    case "rps":
      return inputs.rps;
    case "dropped":
      return inputs.dropped;
    case "drifting":
      return inputs.drifting ?? null;
  }
}

export function compare(actual: number, operator: Operator, bound: number): boolean {
  switch (operator) {
    case "<":
      return actual < bound;
    case "<=":
      return actual <= bound;
    case ">":
      return actual > bound;
    case ">=":
      return actual >= bound;
    case "==":
      return actual === bound;
    case "!=":
      return actual !== bound;
  }
}
