import assert from "node:assert/strict";
import { test } from "node:test";
import { AggregatorRegistry, type Registry } from "prom-client";
import { GatewayMetrics } from "../../../src/observability/metrics.js";

const BOUNDS = [
  "0.001",
  "0.0025",
  "0.005",
  "0.01",
  "0.025",
  "0.05",
  "0.1",
  "0.25",
  "0.5",
  "1",
  "2.5",
  "5",
  "10",
  "30",
];

async function lines(registry: Registry, prefix: string): Promise<string[]> {
  return (await registry.metrics()).split("\n").filter((line) => line.startsWith(prefix));
}

test("requests are counted by route, method (OTHER outside the standard set) and status class", async () => {
  const metrics = new GatewayMetrics({ processMetrics: false });
  metrics.observeRequest("api", "GET", 200, 0.002);
  metrics.observeRequest("api", "GET", 204, 0.002);
  metrics.observeRequest("api", "GET", 503, 0.002);
  metrics.observeRequest("api", "BREW", 418, 0.002);
  metrics.observeRequest("web", "POST", 302, 0.002);
  metrics.observeRequest("web", "POST", 99, 0.002);
  assert.deepEqual(await lines(metrics.registry, "bulwark_requests_total{"), [
    'bulwark_requests_total{route="api",method="GET",status_class="2xx"} 2',
    'bulwark_requests_total{route="api",method="GET",status_class="5xx"} 1',
    'bulwark_requests_total{route="api",method="OTHER",status_class="4xx"} 1',
    'bulwark_requests_total{route="web",method="POST",status_class="3xx"} 1',
    // a status outside 100-599 counts as a server error, as before
    'bulwark_requests_total{route="web",method="POST",status_class="5xx"} 1',
  ]);
  // Reading twice does not count twice.
  metrics.observeRequest("api", "GET", 200, 0.002);
  assert.ok(
    (await lines(metrics.registry, "bulwark_requests_total{")).includes(
      'bulwark_requests_total{route="api",method="GET",status_class="2xx"} 3',
    ),
  );
});

test("durations fill cumulative buckets; sum and count follow every observation", async () => {
  const metrics = new GatewayMetrics({ processMetrics: false });
  const seconds = [0.0005, 0.001, 0.003, 0.003, 0.2, 7, 45];
  for (const value of seconds) metrics.observeRequest("api", "GET", 200, value);
  const text = await lines(metrics.registry, "bulwark_request_duration_seconds");
  const expected = BOUNDS.map((bound) => {
    const within = seconds.filter((value) => value <= Number(bound)).length;
    return `bulwark_request_duration_seconds_bucket{le="${bound}",route="api",method="GET"} ${within}`;
  });
  assert.deepEqual(text, [
    ...expected,
    'bulwark_request_duration_seconds_bucket{le="+Inf",route="api",method="GET"} 7',
    `bulwark_request_duration_seconds_sum{route="api",method="GET"} ${seconds.reduce((sum, value) => sum + value, 0)}`,
    'bulwark_request_duration_seconds_count{route="api",method="GET"} 7',
  ]);
  assert.match(
    (await metrics.registry.metrics()).toString(),
    /# TYPE bulwark_request_duration_seconds histogram/,
  );
});

test("in-flight requests are read when the metrics are", async () => {
  const metrics = new GatewayMetrics({ processMetrics: false });
  metrics.inFlight += 3;
  assert.deepEqual(await lines(metrics.registry, "bulwark_requests_in_flight "), [
    "bulwark_requests_in_flight 3",
  ]);
  metrics.inFlight -= 3;
  assert.deepEqual(await lines(metrics.registry, "bulwark_requests_in_flight "), [
    "bulwark_requests_in_flight 0",
  ]);
});

test("workers' series add up in the cluster aggregation, label by label", async () => {
  const workers = [
    new GatewayMetrics({ processMetrics: false }),
    new GatewayMetrics({ processMetrics: false }),
  ];
  workers[0]!.observeRequest("api", "GET", 200, 0.002);
  workers[1]!.observeRequest("api", "GET", 200, 0.02);
  workers[1]!.observeRequest("web", "GET", 200, 0.02);
  const aggregated = AggregatorRegistry.aggregate(
    await Promise.all(workers.map((worker) => worker.registry.getMetricsAsJSON())),
  );
  const text = await aggregated.metrics();
  assert.match(text, /^bulwark_requests_total\{route="api",method="GET",status_class="2xx"\} 2$/m);
  assert.match(text, /^bulwark_request_duration_seconds_count\{route="api",method="GET"\} 2$/m);
  assert.match(text, /^bulwark_request_duration_seconds_count\{route="web",method="GET"\} 1$/m);
  assert.match(text, /^bulwark_request_duration_seconds_bucket\{le="0.005",route="api",method="GET"\} 1$/m);
  assert.match(text, /^bulwark_request_duration_seconds_bucket\{le="0.025",route="api",method="GET"\} 2$/m);
});
