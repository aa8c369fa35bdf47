/**
 * Prometheus metrics (prom-client). Label values are bounded: route and upstream names come from
 * config, methods outside the standard set count as OTHER, statuses as classes (2xx…5xx).
 * Children are cached per label set so the hot path does no label hashing.
 */
import client, { type Counter, type Gauge, type Histogram, Registry } from "prom-client";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];

export class GatewayMetrics {
  readonly registry: Registry;
  private readonly requests: Counter<"route" | "method" | "status_class">;
  private readonly duration: Histogram<"route" | "method">;
  private readonly upstreamErrors: Counter<"upstream" | "kind">;
  readonly inFlight: Gauge;
  readonly openConnections: Gauge<"listener">;
  readonly reloads: Counter<"result">;
  readonly targetHealthy: Gauge<"upstream" | "target">;
  readonly rateLimited: Counter<"route" | "rule" | "mode">;
  readonly rateLimitStoreErrors: Counter;
  readonly rateLimitStoreUp: Gauge;
  readonly lockouts: Counter<"route" | "kind">;
  private readonly requestChildren = new Map<string, Counter.Internal>();
  private readonly durationChildren = new Map<string, Histogram.Internal<"route" | "method">>();

  constructor(options: { processMetrics?: boolean } = {}) {
    this.registry = new Registry();
    if (options.processMetrics !== false)
      client.collectDefaultMetrics({ register: this.registry, prefix: "bulwark_" });
    this.requests = new client.Counter({
      name: "bulwark_requests_total",
      help: "Requests answered, by route, method and status class",
      labelNames: ["route", "method", "status_class"],
      registers: [this.registry],
    });
    this.duration = new client.Histogram({
      name: "bulwark_request_duration_seconds",
      help: "Time from request arrival to the end of the response",
      labelNames: ["route", "method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.upstreamErrors = new client.Counter({
      name: "bulwark_upstream_errors_total",
      help: "Failed upstream exchanges, by upstream and kind (refused, reset, connect_timeout, header_timeout, body_timeout, dns, tls, other)",
      labelNames: ["upstream", "kind"],
      registers: [this.registry],
    });
    this.inFlight = new client.Gauge({
      name: "bulwark_requests_in_flight",
      help: "Requests being handled now",
      registers: [this.registry],
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
    const statusClass = STATUS_CLASSES[Math.floor(status / 100) - 1] ?? "5xx";
    const key = `${route}\u0000${m}\u0000${statusClass}`;
    let counter = this.requestChildren.get(key);
    if (!counter) {
      counter = this.requests.labels(route, m, statusClass);
      this.requestChildren.set(key, counter);
    }
    counter.inc();
    const durationKey = `${route}\u0000${m}`;
    let histogram = this.durationChildren.get(durationKey);
    if (!histogram) {
      histogram = this.duration.labels(route, m);
      this.durationChildren.set(durationKey, histogram);
    }
    histogram.observe(seconds);
  }

  upstreamError(upstream: string, kind: string): void {
    this.upstreamErrors.labels(upstream, kind).inc();
  }
}
