/**
 * Prometheus metrics (prom-client). Label values are bounded: route and upstream names come from
 * config, methods outside the standard set count as OTHER, statuses as classes (2xx…5xx).
 *
 * The per-request metrics (requests, duration, in flight) are plain numbers on the hot path and
 * become prom-client values only when /metrics is read: a prom-client observation validates and
 * hashes its labels every time, even on a cached child, which cost about 3 % of the gateway's CPU
 * per request. The exposition (names, labels, buckets, order) is the one prom-client made before.
 */
import client, { type Counter, type Gauge, type Metric, Registry } from "prom-client";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One route and method: answered requests per status class, and the duration histogram. */
class RequestSeries {
  readonly byClass = new Float64Array(STATUS_CLASSES.length);
  /** Observations per bucket (not cumulative); those above the last bound only count in `count`. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length);
  sum = 0;
  count = 0;

  constructor(readonly labels: { readonly route: string; readonly method: string }) {}

  observe(statusClass: number, seconds: number): void {
    this.byClass[statusClass]! += 1;
    for (let index = 0; index < DURATION_BUCKETS.length; index++) {
      if (seconds <= DURATION_BUCKETS[index]!) {
        this.buckets[index]! += 1;
        break;
      }
    }
    this.sum += seconds;
    this.count += 1;
  }
}

interface HistogramValue {
  readonly labels: Readonly<Record<string, string | number>>;
  /** Labels prom-client prints after `labels` (the series' route and method). */
  readonly sharedLabels?: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName: string;
  readonly exemplar: null | undefined;
}

interface HistogramData {
  readonly name: string;
  readonly help: string;
  readonly type: "histogram";
  readonly values: HistogramValue[];
  readonly aggregator: "sum";
}

/**
 * bulwark_request_duration_seconds, rendered from the request series on read. Registered as a
 * prom-client metric (name, help, type, aggregator, get, reset), with values shaped as
 * prom-client's Histogram shapes them, so the text and the cluster aggregation are unchanged.
 */
class DurationHistogram {
  readonly name = "bulwark_request_duration_seconds";
  readonly help = "Time from request arrival to the end of the response";
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;

  constructor(private readonly series: () => Iterable<RequestSeries>) {}

  /** Values with full labels (JSON, the cluster aggregation), as prom-client's Histogram.get(). */
  async get(): Promise<HistogramData> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  /** Values for the text format: `le` first, then the series' labels, as prom-client prints them. */
  async getForPromString(): Promise<HistogramData> {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.series()) {
      if (series.count === 0) continue;
      const shared = series.labels;
      let cumulative = 0;
      for (let index = 0; index < DURATION_BUCKETS.length; index++) {
        cumulative += series.buckets[index]!;
        values.push({
          labels: { le: DURATION_BUCKETS[index]! },
          sharedLabels: shared,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      }
      values.push({
        labels: { le: "+Inf" },
        sharedLabels: shared,
        value: series.count,
        metricName: bucket,
        exemplar: null,
      });
      values.push({
        labels: {},
        sharedLabels: shared,
        value: series.sum,
        metricName: `${this.name}_sum`,
        exemplar: undefined,
      });
      values.push({
        labels: {},
        sharedLabels: shared,
        value: series.count,
        metricName: `${this.name}_count`,
        exemplar: undefined,
      });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  reset(): void {
    for (const series of this.series()) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

export class GatewayMetrics {
  readonly registry: Registry;
  private readonly upstreamErrors: Counter<"upstream" | "kind">;
  /** Requests being handled now; the gauge reads it on /metrics. */
  inFlight = 0;
  readonly openConnections: Gauge<"listener">;
  readonly reloads: Counter<"result">;
  readonly targetHealthy: Gauge<"upstream" | "target">;
  readonly rateLimited: Counter<"route" | "rule" | "mode">;
  readonly rateLimitStoreErrors: Counter;
  readonly rateLimitStoreUp: Gauge;
  readonly lockouts: Counter<"route" | "kind">;
  /** Route name → method → series, for the hot path; */
  private readonly series = new Map<string, Map<string, RequestSeries>>();
  /** and the same series in order of first use, the order prom-client listed them in. */
  private readonly seriesInOrder: RequestSeries[] = [];

  constructor(options: { processMetrics?: boolean } = {}) {
    this.registry = new Registry();
    if (options.processMetrics !== false)
      client.collectDefaultMetrics({ register: this.registry, prefix: "bulwark_" });
    const allSeries = () => this.seriesInOrder;
    const requests: Counter<"route" | "method" | "status_class"> = new client.Counter({
      name: "bulwark_requests_total",
      help: "Requests answered, by route, method and status class",
      labelNames: ["route", "method", "status_class"],
      registers: [this.registry],
      collect() {
        requests.reset();
        for (const series of allSeries()) {
          series.byClass.forEach((count, index) => {
            if (count > 0) requests.inc({ ...series.labels, status_class: STATUS_CLASSES[index]! }, count);
          });
        }
      },
    });
    this.registry.registerMetric(new DurationHistogram(allSeries) as unknown as Metric);
    this.upstreamErrors = new client.Counter({
      name: "bulwark_upstream_errors_total",
      help: "Failed upstream exchanges, by upstream and kind (refused, reset, connect_timeout, header_timeout, body_timeout, dns, tls, other)",
      labelNames: ["upstream", "kind"],
      registers: [this.registry],
    });
    const metrics = this;
    new client.Gauge({
      name: "bulwark_requests_in_flight",
      help: "Requests being handled now",
      registers: [this.registry],
      collect() {
        this.set(metrics.inFlight);
      },
    });
    this.openConnections = new client.Gauge({
      name: "bulwark_open_connections",
      help: "Open client connections, by listener",
      labelNames: ["listener"],
      registers: [this.registry],
    });
    this.reloads = new client.Counter({
      name: "bulwark_config_reloads_total",
      help: "Configuration reloads, by result (applied, refused)",
      labelNames: ["result"],
      registers: [this.registry],
    });
    this.targetHealthy = new client.Gauge({
      name: "bulwark_upstream_target_healthy",
      help: "1 when the target passed its last active health check, else 0",
      labelNames: ["upstream", "target"],
      registers: [this.registry],
    });
    const rateLimit = this.rateLimitMetrics();
    this.rateLimited = rateLimit.rateLimited;
    this.rateLimitStoreErrors = rateLimit.storeErrors;
    this.rateLimitStoreUp = rateLimit.storeUp;
    this.rateLimitStoreUp.set(1);
    this.lockouts = new client.Counter({
      name: "bulwark_lockouts_total",
      help: "Brute-force lock-outs started, by route and kind (ip, account)",
      labelNames: ["route", "kind"],
      registers: [this.registry],
    });
  }

  /** Rate-limit metrics, registered here so every feature shares one registry. */
  private rateLimitMetrics() {
    return {
      rateLimited: new client.Counter({
        name: "bulwark_rate_limited_total",
        help: "Requests over a rate-limit rule, by route, rule and mode (enforced: answered 429; shadow: let through)",
        labelNames: ["route", "rule", "mode"] as const,
        registers: [this.registry],
      }),
      storeErrors: new client.Counter({
        name: "bulwark_rate_limit_store_errors_total",
        help: "Rate-limit decisions the store could not make (Redis unreachable or too slow)",
        registers: [this.registry],
      }),
      storeUp: new client.Gauge({
        name: "bulwark_rate_limit_store_up",
        help: "1 while the rate-limit store answers, 0 after a failure until it answers again",
        registers: [this.registry],
      }),
    };
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : "OTHER";
    let byMethod = this.series.get(route);
    if (!byMethod) {
      byMethod = new Map();
      this.series.set(route, byMethod);
    }
    let series = byMethod.get(m);
    if (!series) {
      series = new RequestSeries({ route, method: m });
      byMethod.set(m, series);
      this.seriesInOrder.push(series);
    }
    const statusClass = Math.floor(status / 100) - 1;
    series.observe(statusClass >= 0 && statusClass < STATUS_CLASSES.length ? statusClass : 4, seconds);
  }

  upstreamError(upstream: string, kind: string): void {
    this.upstreamErrors.labels(upstream, kind).inc();
  }
}
