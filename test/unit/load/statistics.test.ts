import assert from "node:assert/strict";
import { test } from "node:test";
import { mannWhitneyGreater, median, normalCdf, proportionGreater } from "../../../src/load/statistics.js";

// Reference values computed independently with Python's math.erfc and the textbook formulas
// (tie-corrected variance, continuity correction), as scipy.stats.mannwhitneyu(method="asymptotic").
const close = (actual: number, expected: number, tolerance = 1e-6) =>
  assert.ok(Math.abs(actual - expected) < tolerance, `${actual} vs ${expected}`);

test("normal CDF", () => {
  close(normalCdf(0), 0.5);
  close(normalCdf(1.959964), 0.975, 1e-6);
  close(normalCdf(-3), 0.0013499, 1e-6);
});

test("Mann-Whitney U: fully separated samples and a tied example", () => {
  const a = Array.from({ length: 10 }, (_, i) => i + 1);
  const b = Array.from({ length: 10 }, (_, i) => i + 11);
  const separated = mannWhitneyGreater(a, b);
  assert.equal(separated.u, 100);
  close(separated.z, 3.7418482827913495, 1e-9);
  close(separated.p, 9.13358955547752e-5, 1e-7);
  // The other direction is nowhere near significant.
  assert.ok(mannWhitneyGreater(b, a).p > 0.99);

  const tied = mannWhitneyGreater([1, 2, 2, 3, 4, 5, 6, 7], [2, 3, 5, 8, 9, 9, 10, 11]);
  assert.equal(tied.u, 51);
  close(tied.z, 1.9529666540566828, 1e-9);
  close(tied.p, 0.025411773301436343, 1e-6);

  // Identical samples: no evidence either way.
  assert.equal(mannWhitneyGreater([5, 5, 5], [5, 5, 5]).p, 1);
});

test("two-proportion z-test and median", () => {
  const result = proportionGreater(10, 1000, 30, 1000);
  close(result.z, 3.1943828249996993, 1e-9);
  close(result.p, 0.0007006507904801084, 1e-6);
  assert.equal(proportionGreater(0, 100, 0, 100).p, 1);
  assert.equal(proportionGreater(0, 0, 1, 1).p, 1);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([]), null);
});
