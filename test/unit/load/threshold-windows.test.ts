import assert from "node:assert/strict";
import { test } from "node:test";
import { LatencyHistogram } from "../../../src/load/histogram.js";
import { type Span, WindowTracker } from "../../../src/load/threshold-windows.js";
import { parseThreshold } from "../../../src/load/thresholds.js";

/** A one-second interval whose responses all took `ms`. */
function span(index: number, ms: number, requests = 100, errors = 0): Span {
  const histogram = new LatencyHistogram({ packed: true });
  for (let i = 0; i < requests - errors; i++) histogram.recordMs(ms);
  return { startMs: index * 1000, endMs: (index + 1) * 1000, requests, errors, dropped: 0, histogram };
}

test("a latency window fails only where the slow intervals are, and reports the worst window", () => {
  const tracker = new WindowTracker(parseThreshold("p(95)<100ms over 3s"), 1000);
  const latencies = [10, 10, 10, 10, 500, 10, 10, 10, 10, 10];
  const results = latencies.map((ms, index) => tracker.push(span(index, ms)));
  // The first two intervals do not complete a window.
  assert.equal(results[0], undefined);
  assert.equal(results[1], undefined);
  // A 3-interval window holding the slow one has 100 of 300 samples at 500 ms: p95 = 500.
  assert.deepEqual(
    results.slice(2).map((result) => result!.ok),
    [true, true, false, false, false, true, true, true],
  );
  const final = tracker.finish();
  assert.equal(final.ok, false);
  assert.ok(Math.abs(final.actual! - 500) < 1, `${final.actual}`);
  assert.equal(final.window!.windows, 8);
  assert.equal(final.window!.failed, 3);
  assert.equal(final.window!.worstStartMs, 2000);
  assert.equal(final.window!.worstEndMs, 5000);
  assert.equal(final.window!.partial, false);
});

test("merged histograms, not averaged percentiles: one slow interval of three moves p(50) only if it holds half", () => {
  const tracker = new WindowTracker(parseThreshold("p(50)<100ms over 3s"), 1000);
  tracker.push(span(0, 10));
  tracker.push(span(1, 10));
  const result = tracker.push(span(2, 900))!;
  // An average of the three interval p50s would be 307 ms and fail; the merged p50 is 10 ms.
  assert.equal(result.ok, true);
  assert.ok(result.actual! < 11);
});

test("error rate and rps over windows; a run shorter than the window is judged as one partial window", () => {
  const errors = new WindowTracker(parseThreshold("error_rate<5% over 2s"), 1000);
  errors.push(span(0, 10, 100, 0));
  assert.equal(errors.push(span(1, 10, 100, 20))!.ok, false); // 20 of 200 = 10 %
  const rps = new WindowTracker(parseThreshold("rps>=50 over 2s"), 1000);
  rps.push(span(0, 10, 100));
  assert.equal(rps.push(span(1, 10, 10))!.actual, 55);
  const short = new WindowTracker(parseThreshold("p(99)<1s over 1m"), 1000);
  short.push(span(0, 10));
  short.push(span(1, 20));
  const final = short.finish();
  assert.equal(final.ok, true);
  assert.equal(final.window!.partial, true);
  assert.equal(final.window!.windows, 1);
  // A window with no responses has no latency to show: it fails.
  const empty = new WindowTracker(parseThreshold("p(99)<1s over 1s"), 1000);
  assert.equal(empty.push(span(0, 10, 5, 5))!.ok, false);
});

test("a window shorter than the interval is one interval", () => {
  const tracker = new WindowTracker(parseThreshold("p(99)<1s over 500ms"), 1000);
  assert.notEqual(tracker.push(span(0, 10)), undefined);
});

test("amendLast re-judges the newest window after a short tail was folded into its last interval", () => {
  const tracker = new WindowTracker(parseThreshold("rps>=50 over 2s"), 1000);
  tracker.push(span(0, 10, 100));
  const last = span(1, 10, 100);
  assert.equal(tracker.push(last)!.ok, true); // 200 requests in 2 s
  // A 0.3 s drain with 1 request folded in: 201 requests in 2.3 s, still ≥ 50/s, one window.
  last.endMs += 300;
  last.requests += 1;
  tracker.amendLast();
  const final = tracker.finish();
  assert.equal(final.window!.windows, 1);
  assert.equal(final.ok, true);
  assert.ok(Math.abs(final.actual! - 201 / 2.3) < 0.01, `${final.actual}`);
});
