import assert from "node:assert/strict";
import { test } from "node:test";
import { sampleValue } from "../../../src/load/prometheus-text.js";
import { trend } from "../../../src/load/trends.js";

const line = (count: number, f: (t: number) => number) =>
  Array.from({ length: count }, (_, t) => ({ t, y: f(t) }));

test("least squares: a steady climb drifts, flat noise and a single jump do not", () => {
  const climb = trend(
    line(60, (t) => 100 + t),
    0.1,
    true,
  );
  assert.equal(climb.judged, true);
  assert.equal(climb.slopePerHour, 3600);
  assert.equal(climb.start, 100);
  assert.equal(climb.end, 159);
  assert.equal(climb.change, 0.59);
  assert.equal(climb.r2, 1);
  assert.equal(climb.drift, true);

  // ±5 % noise around a flat line: the fit's change is small, no drift.
  const noise = trend(
    line(60, (t) => 100 + (t % 2 === 0 ? 5 : -5)),
    0.1,
    true,
  );
  assert.equal(noise.drift, false);
  assert.ok(Math.abs(noise.change!) < 0.05);

  // A sawtooth (GC) on a flat base: large swings, no trend.
  assert.equal(
    trend(
      line(60, (t) => 100 + (t % 10) * 5),
      0.1,
      true,
    ).drift,
    false,
  );

  // Growth below the bound is reported, not flagged.
  const slow = trend(
    line(60, (t) => 1000 + t),
    0.1,
    true,
  );
  assert.ok(slow.change! > 0 && slow.change! < 0.1);
  assert.equal(slow.drift, false);

  // Absolute change for rates: 0 → 2 % errors is +0.02, above the 1-point bound.
  const errors = trend(
    line(30, (t) => (t / 29) * 0.02),
    0.01,
    false,
  );
  assert.ok(Math.abs(errors.change! - 0.02) < 1e-9);
  assert.equal(errors.drift, true);
});

test("too few samples are not judged", () => {
  const short = trend(
    line(9, (t) => t * 100),
    0.1,
    true,
  );
  assert.equal(short.judged, false);
  assert.equal(short.drift, false);
  assert.equal(short.change, null);
});

test("Prometheus text: the first sample of the exact name, labels and comments skipped", () => {
  const text = [
    "# HELP process_resident_memory_bytes Resident memory size in bytes.",
    "# TYPE process_resident_memory_bytes gauge",
    "process_resident_memory_bytes_total 1",
    'process_resident_memory_bytes{instance="a b}",x="q\\"}"} 4.2e7 1700000000',
    "process_resident_memory_bytes 99",
    "",
  ].join("\n");
  assert.equal(sampleValue(text, "process_resident_memory_bytes"), 4.2e7);
  assert.equal(sampleValue(text, "process_resident_memory_bytes_total"), 1);
  assert.equal(sampleValue(text, "missing"), undefined);
  assert.equal(sampleValue("m +Inf\n", "m"), Number.POSITIVE_INFINITY);
  assert.equal(sampleValue("m NaN\nm 3\n", "m"), 3);
  assert.equal(sampleValue('m{a="1" 3\n', "m"), undefined);
});

test("fuzz: random Prometheus text never throws", () => {
  const pieces = ["m", "{", "}", '"', "\\", " ", "\t", "\n", "1", "e", "-", "+Inf", "#", "a=", ",", "."];
  const deadline = Date.now() + 1500;
  while (Date.now() < deadline) {
    let text = "";
    const length = Math.floor(Math.random() * 30);
    for (let i = 0; i < length; i++) text += pieces[Math.floor(Math.random() * pieces.length)];
    const value = sampleValue(text, "m");
    assert.ok(value === undefined || typeof value === "number");
  }
});
