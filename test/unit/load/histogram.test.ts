import assert from "node:assert/strict";
import { test } from "node:test";
import { LatencyHistogram } from "../../../src/load/histogram.js";

test("percentiles in milliseconds within HdrHistogram's 3 significant digits", () => {
  const histogram = new LatencyHistogram();
  for (let ms = 1; ms <= 1000; ms++) histogram.recordMs(ms);
  assert.equal(histogram.count, 1000);
  const summary = histogram.summary();
  const near = (actual: number | null, expected: number) =>
    assert.ok(
      actual !== null && Math.abs(actual - expected) <= expected * 0.001 + 0.001,
      `${actual} ≈ ${expected}`,
    );
  near(summary.p50, 500);
  near(summary.p90, 900);
  near(summary.p95, 950);
  near(summary.p99, 990);
  near(summary.max, 1000);
});

test("sub-millisecond values keep microsecond resolution; empty is null", () => {
  const histogram = new LatencyHistogram();
  assert.deepEqual(histogram.summary(), { p50: null, p90: null, p95: null, p99: null, max: null });
  histogram.recordMs(0.25);
  assert.equal(histogram.percentileMs(50), 0.25);
  histogram.reset();
  assert.equal(histogram.count, 0);
});

test("values beyond an hour still record (autoResize)", () => {
  const histogram = new LatencyHistogram();
  histogram.recordMs(2 * 3_600_000);
  assert.ok(histogram.maxMs()! >= 2 * 3_600_000 * 0.999);
});
