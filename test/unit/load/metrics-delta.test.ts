/** A worker's report (toDelta → absorb) adds up exactly to what one thread would have recorded. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RunMetrics } from "../../../src/load/metrics.js";

test("two workers' deltas absorbed by the main thread equal one thread recording everything", () => {
  const alone = new RunMetrics();
  const workers = [new RunMetrics(), new RunMetrics()];
  const main = new RunMetrics();
  for (let i = 0; i < 5000; i++) {
    // A known mix: latencies 1–500 ms, a 503 every 97th, a reset every 89th, a 404 every 53rd.
    const latency = 1 + ((i * 7919) % 500);
    const outcome =
      i % 89 === 0
        ? ({ kind: "failure", errorClass: "reset", bytes: 0 } as const)
        : ({ kind: "response", status: i % 97 === 0 ? 503 : i % 53 === 0 ? 404 : 200, bytes: 6 } as const);
    alone.record(outcome, 0, latency / 2, latency);
    workers[i % 2]!.record(outcome, 0, latency / 2, latency);
    if (i % 2 === 1) {
      alone.dropped++;
      workers[1]!.dropped++;
    }
    // Workers report now and then (each report starts them afresh).
    if (i % 700 === 0) for (const worker of workers) main.absorb(takeDelta(worker));
  }
  for (const worker of workers) main.absorb(takeDelta(worker));
  assert.equal(main.requests, alone.requests);
  assert.equal(main.errors, alone.errors);
  assert.equal(main.clientErrors, alone.clientErrors);
  assert.equal(main.dropped, alone.dropped);
  assert.equal(main.bytesReceived, alone.bytesReceived);
  assert.deepEqual(new Map([...main.statusCodes].sort()), new Map([...alone.statusCodes].sort()));
  assert.deepEqual(main.errorsByClass, alone.errorsByClass);
  // Histograms merge bucket by bucket: identical percentiles, not approximately equal ones. The
  // max after a merge is its bucket's highest equivalent value (HdrHistogram's encoding keeps
  // buckets, not the exact maximum): within the histogram's 3 significant digits.
  for (const [merged, single] of [
    [main.corrected, alone.corrected],
    [main.serviceTime, alone.serviceTime],
  ] as const) {
    for (const percentile of [50, 90, 95, 99, 99.9])
      assert.equal(merged.percentileMs(percentile), single.percentileMs(percentile));
    assert.ok(Math.abs(merged.maxMs()! - single.maxMs()!) <= single.maxMs()! * 0.001);
  }
  // The timeline interval and progress interval of the main thread saw the same requests.
  const span = main.takeSpan();
  assert.equal(span.requests, alone.requests);
  assert.equal(span.latency.p99, alone.corrected.percentileMs(99));
  assert.equal(main.takeInterval().requests, alone.requests);
  // After a report, a worker starts from nothing.
  assert.equal(workers[0]!.requests, 0);
  assert.equal(workers[0]!.corrected.count, 0);
  assert.equal(workers[0]!.statusCodes.size, 0);
});

function takeDelta(metrics: RunMetrics) {
  const delta = metrics.toDelta();
  metrics.reset();
  return delta;
}
