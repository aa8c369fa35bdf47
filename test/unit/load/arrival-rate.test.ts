/** The open-model scheduler alone, with a fake request function (no network). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runArrivalRate } from "../../../src/load/arrival-rate.js";
import { RunMetrics } from "../../../src/load/metrics.js";
import type { ArrivalRateExecutor } from "../../../src/load/plan.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function executor(overrides: Partial<ArrivalRateExecutor>): ArrivalRateExecutor {
  return {
    kind: "constant-arrival-rate",
    rate: 100,
    durationMs: 500,
    connections: 10,
    maxQueue: 200,
    ...overrides,
  };
}

test("iterations are due at start + i/rate and started close to it", async () => {
  const intended: number[] = [];
  const lateness: number[] = [];
  await runArrivalRate(
    executor({ rate: 100, durationMs: 500 }),
    async (intendedAt) => {
      intended.push(intendedAt);
      lateness.push(performance.now() - intendedAt);
    },
    new RunMetrics(),
    new AbortController().signal,
  );
  assert.equal(intended.length, 50);
  for (let i = 1; i < intended.length; i++) assert.ok(Math.abs(intended[i]! - intended[i - 1]! - 10) < 1e-6);
  lateness.sort((a, b) => a - b);
  assert.ok(lateness[Math.floor(lateness.length / 2)]! < 5, `median lateness ${lateness[25]}`);
});

test("busy connections queue iterations with their intended times, then drop beyond maxQueue", async () => {
  const metrics = new RunMetrics();
  const intended: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  await runArrivalRate(
    executor({ rate: 200, durationMs: 250, connections: 2, maxQueue: 5 }),
    async (intendedAt) => {
      intended.push(intendedAt);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await sleep(100);
      inFlight--;
    },
    metrics,
    new AbortController().signal,
  );
  assert.equal(maxInFlight, 2);
  // 50 due; 2 connections × 100 ms over 250 ms start ~6, and everything else was dropped
  assert.equal(intended.length + metrics.dropped, 50);
  assert.ok(metrics.dropped >= 40, `dropped ${metrics.dropped}`);
  // FIFO: started in intended order
  assert.deepEqual(
    intended,
    [...intended].sort((a, b) => a - b),
  );
});

test("an abort stops scheduling at once and waits for in-flight requests", async () => {
  const abort = new AbortController();
  let started = 0;
  let finished = 0;
  const begin = performance.now();
  setTimeout(() => abort.abort(), 100);
  await runArrivalRate(
    executor({ rate: 100, durationMs: 10_000 }),
    async () => {
      started++;
      await sleep(30);
      finished++;
    },
    new RunMetrics(),
    abort.signal,
  );
  assert.ok(performance.now() - begin < 500);
  assert.ok(started >= 5 && started <= 15, `started ${started}`);
  assert.equal(finished, started);
});
