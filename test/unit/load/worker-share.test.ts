/** Splitting a run across worker threads: shares, executors, and schedules (no network). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isBulwarkError } from "../../../src/errors.js";
import { runArrivalRate } from "../../../src/load/arrival-rate.js";
import { RunMetrics } from "../../../src/load/metrics.js";
import { buildPlan, type LoadInput, MAX_WORKERS } from "../../../src/load/plan.js";
import { maxWorkersFor, shareOf, workerExecutor } from "../../../src/load/worker-share.js";

test("shares deal units round-robin: they sum to the total and differ by at most one", () => {
  for (let total = 0; total <= 40; total++) {
    for (let count = 1; count <= 9; count++) {
      const shares = Array.from({ length: count }, (_, index) => shareOf(total, { index, count }));
      assert.equal(
        shares.reduce((sum, value) => sum + value, 0),
        total,
        `${total} over ${count}: ${shares}`,
      );
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
    }
  }
  // A ramp at 5 VUs over 2 workers: VUs 0, 2, 4 in worker 0 and 1, 3 in worker 1.
  assert.equal(shareOf(5, { index: 0, count: 2 }), 3);
  assert.equal(shareOf(5, { index: 1, count: 2 }), 2);
});

test("worker executors split connections, queue and VUs; rates and stages stay global", () => {
  const rate = {
    kind: "constant-arrival-rate",
    rate: 500,
    durationMs: 1000,
    connections: 101,
    maxQueue: 3,
  } as const;
  assert.deepEqual(workerExecutor(rate, { index: 0, count: 2 }), { ...rate, connections: 51, maxQueue: 2 });
  assert.deepEqual(workerExecutor(rate, { index: 1, count: 2 }), { ...rate, connections: 50, maxQueue: 1 });
  const vus = { kind: "constant-vus", vus: 7, durationMs: 1000 } as const;
  assert.equal((workerExecutor(vus, { index: 2, count: 3 }) as typeof vus).vus, 2);
  const ramp = {
    kind: "ramping-vus",
    startVus: 0,
    stages: [{ durationMs: 1000, target: 9 }],
    durationMs: 1000,
  } as const;
  assert.deepEqual(workerExecutor(ramp, { index: 1, count: 4 }), ramp);
  assert.equal(maxWorkersFor(ramp), 9);
  assert.equal(maxWorkersFor(rate), 101);
});

test("two workers' arrival schedules interleave into exactly the one-process schedule", async () => {
  const executor = {
    kind: "ramping-arrival-rate",
    startRate: 100,
    stages: [{ durationMs: 400, target: 300 }],
    durationMs: 400,
    connections: 50,
    maxQueue: 100,
  } as const;
  const start = performance.now() + 20;
  const run = async (share?: { index: number; count: number }) => {
    const times: number[] = [];
    await runArrivalRate(
      executor,
      async (intendedAt) => {
        times.push(intendedAt - start);
      },
      new RunMetrics(),
      new AbortController().signal,
      share ? { start, share } : { start },
    );
    return times;
  };
  const [alone, first, second] = await Promise.all([
    run(),
    run({ index: 0, count: 2 }),
    run({ index: 1, count: 2 }),
  ]);
  // 100 → 300/s over 0.4 s: 80 iterations.
  assert.equal(alone.length, 80);
  assert.equal(first.length + second.length, alone.length);
  assert.deepEqual(
    [...first, ...second].sort((a, b) => a - b),
    alone,
  );
  // Worker 0 took iterations 0, 2, 4, …; worker 1 took 1, 3, 5, …
  assert.deepEqual(
    first,
    alone.filter((_, index) => index % 2 === 0),
  );
});

function usageError(input: LoadInput, pattern: RegExp): void {
  assert.throws(
    () => buildPlan(input),
    (error: unknown) => isBulwarkError(error) && error.code === "usage" && pattern.test(error.message),
  );
}

test("--workers: counts, auto, and clear refusals", () => {
  const base = { target: "http://127.0.0.1:8080/", duration: "10s" };
  assert.equal(buildPlan({ ...base, rate: "100" }).workers, undefined);
  assert.equal(buildPlan({ ...base, rate: "100", workers: "1" }).workers, undefined);
  assert.equal(buildPlan({ ...base, rate: "100", workers: "3" }).workers, 3);
  const auto = buildPlan({ ...base, vus: "1", workers: "auto" }).workers;
  assert.equal(auto, undefined, "auto is capped at one VU");
  usageError({ ...base, rate: "100", workers: "0" }, /--workers: expected a positive whole number or auto/);
  usageError({ ...base, rate: "100", workers: "two" }, /--workers: expected a positive whole number or auto/);
  usageError({ ...base, rate: "100", workers: "1.5" }, /--workers: expected/);
  usageError(
    { ...base, vus: "2", workers: "3" },
    /--workers 3: each worker needs at least one VU, and this run has 2/,
  );
  usageError(
    { ...base, rate: "100", connections: "2", workers: "4" },
    /each worker needs at least one connection \(--connections\), and this run has 2/,
  );
  usageError(
    { ...base, rate: "100000", connections: "100000", workers: String(MAX_WORKERS + 1) },
    /--workers: at most 256/,
  );
});

test("--workers parsing never crashes on arbitrary input (bounded fuzz)", () => {
  const alphabet = "0123456789 .-+eEautoAUTO\t\n\u00a0x";
  const deadline = Date.now() + 1500;
  let cases = 0;
  while (Date.now() < deadline) {
    const length = Math.floor(Math.random() * 8);
    let text = "";
    for (let i = 0; i < length; i++) text += alphabet[Math.floor(Math.random() * alphabet.length)];
    try {
      const plan = buildPlan({
        target: "http://127.0.0.1:8080/",
        rate: "100",
        duration: "1s",
        workers: text,
      });
      const workers = plan.workers ?? 1;
      assert.ok(
        Number.isInteger(workers) && workers >= 1 && workers <= 100,
        `${JSON.stringify(text)} → ${workers}`,
      );
    } catch (error) {
      assert.ok(isBulwarkError(error) && error.code === "usage", `${JSON.stringify(text)}: ${error}`);
    }
    cases++;
  }
  assert.ok(cases > 100);
});
