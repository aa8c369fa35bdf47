import assert from "node:assert/strict";
import { test } from "node:test";
import {
  busiestRun,
  busiestSample,
  GeneratorHealth,
  isBound,
  judgeGenerator,
} from "../../../src/load/generator-health.js";
import { formatProgress } from "../../../src/load/progress.js";
import { threadCpuMicros } from "../../../src/load/thread-cpu.js";

const calm = { cpu: 0.1, utilization: 0.1, lagMaxMs: 2, rssBytes: 50e6, dropped: 0 };
const run = { cpu: 0.1, utilization: 0.1, lagP99Ms: 1, lagMaxMs: 2 };

test("a calm generator is valid", () => {
  const summary = judgeGenerator(Array(20).fill(calm), run);
  assert.equal(summary.valid, true);
  assert.deepEqual(summary.reasons, []);
  assert.equal(summary.boundIntervals, 0);
});

test("the rule: ≥ 10 % (and ≥ 2) bound intervals, drops while bound, or a saturated run make it invalid", () => {
  const busy = { ...calm, utilization: 0.95 };
  const stalled = { ...calm, lagMaxMs: 150 };
  // 1 bound of 20 = 5 %: valid.
  assert.equal(judgeGenerator([busy, ...Array(19).fill(calm)], run).valid, true);
  // 1 bound of 3 is a third, but a single hiccup: valid. 2 of 3: invalid.
  assert.equal(judgeGenerator([calm, stalled, calm], run).valid, true);
  assert.equal(judgeGenerator([stalled, stalled, calm], run).valid, false);
  // 2 of 30 is under 10 %: valid.
  assert.equal(judgeGenerator([busy, busy, ...Array(28).fill(calm)], run).valid, true);
  // 2 of 20 = 10 %: invalid.
  const two = judgeGenerator([busy, stalled, ...Array(18).fill(calm)], run);
  assert.equal(two.valid, false);
  assert.match(two.reasons[0]!, /2 of 20 intervals/);
  // 1 of 20, but it dropped iterations: invalid.
  const dropping = judgeGenerator([{ ...busy, dropped: 7 }, ...Array(19).fill(calm)], run);
  assert.equal(dropping.valid, false);
  assert.equal(dropping.droppedWhileBound, 7);
  assert.match(dropping.reasons.join(" "), /7 iterations were dropped/);
  // Drops in calm intervals are the target's (or the connection limit's) doing: valid.
  assert.equal(judgeGenerator(Array(20).fill({ ...calm, dropped: 9 }), run).valid, true);
  // A saturated run overall.
  assert.equal(judgeGenerator(Array(20).fill(calm), { ...run, utilization: 0.93 }).valid, false);
  const cpuBound = judgeGenerator(Array(20).fill(calm), { ...run, cpu: 0.95 });
  assert.equal(cpuBound.valid, false);
  assert.match(cpuBound.reasons[0]!, /one core saturated/);
});

test("sampling sees a deliberate block of the event loop as lag and utilization", async () => {
  const health = new GeneratorHealth();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const blockUntil = performance.now() + 300;
  while (performance.now() < blockUntil) {
    // block the loop on purpose
  }
  await new Promise((resolve) => setTimeout(resolve, 30));
  const sample = health.sample();
  assert.ok(sample.lagMaxMs >= 250, `lag ${sample.lagMaxMs}`);
  assert.ok(sample.utilization >= 0.6, `utilization ${sample.utilization}`);
  // CPU time, unlike wall time, depends on how busy the shared machine is: only check it moved.
  assert.ok(sample.cpu > 0, `cpu ${sample.cpu}`);
  assert.ok(sample.rssBytes > 1e6);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const quiet = health.sample();
  assert.ok(quiet.lagMaxMs < 100, `quiet lag ${quiet.lagMaxMs}`);
  assert.ok(quiet.utilization < 0.5, `quiet utilization ${quiet.utilization}`);
  const finished = health.finish();
  assert.ok(finished.lagMaxMs >= 250);
});

test("the progress line carries the generator's cpu, loop utilization and lag", () => {
  const line = formatProgress({
    elapsedMs: 12_000,
    durationMs: 60_000,
    rate: 500,
    p99: 9.84,
    errors: 0,
    dropped: 0,
    generator: { cpu: 0.31, utilization: 0.283, lagMaxMs: 3.2 },
  });
  assert.equal(line, "12s/60s  rate 500.0/s  p99 9.8ms  errors 0  dropped 0  cpu 31% loop 28% lag 3ms");
});

test("with worker threads, one bound worker makes the interval and the run bound", () => {
  const busy = { cpu: 0.97, utilization: 0.95, lagMaxMs: 30, rssBytes: 50e6 };
  const merged = busiestSample([calm, busy, calm], 80e6);
  assert.deepEqual(merged, { cpu: 0.97, utilization: 0.95, lagMaxMs: 30, rssBytes: 80e6 });
  assert.equal(isBound(merged), true);
  // One worker saturated its core over the run: invalid, although the others were calm.
  const worst = busiestRun([run, { cpu: 0.95, utilization: 0.93, lagP99Ms: 4, lagMaxMs: 40 }]);
  assert.equal(worst.utilization, 0.93);
  const summary = judgeGenerator(Array(10).fill({ ...merged, dropped: 0 }), worst);
  assert.equal(summary.valid, false);
  assert.match(summary.reasons.join("\n"), /bottleneck in 10 of 10 intervals/);
  assert.match(summary.reasons.join("\n"), /one core saturated/);
});

test("a thread's own CPU time is read from /proc/thread-self and grows with work", () => {
  const before = threadCpuMicros();
  assert.ok(before !== undefined, "Linux /proc/thread-self/stat should be readable");
  const until = performance.now() + 120;
  let spin = 0;
  while (performance.now() < until) spin++;
  const after = threadCpuMicros()!;
  // 120 ms of spinning, counted in 10 ms clock ticks; a busy machine may deschedule us.
  assert.ok(after - before >= 10_000, `thread cpu grew by ${after - before} µs after ${spin} spins`);
  assert.ok(after - before <= 2_000_000);
});
