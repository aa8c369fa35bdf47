/**
 * `bulwark load --workers N`: one run split across worker threads, against real local servers.
 * The split must be invisible in the results: the configured total rate is offered, VU counts
 * hold, merged percentiles match the injected latencies, thresholds still stop the run, a
 * worker that dies fails the run loudly, and Ctrl-C still writes a partial report.
 *
 * Tolerances are generous: the machine running the tests has 2 cores shared with other work.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isBulwarkError } from "../../../src/errors.js";
import { ExitCode } from "../../../src/exit-codes.js";
import { findLimit } from "../../../src/load/find-limit.js";
import { RunMetrics } from "../../../src/load/metrics.js";
import { buildPlan, type FindLimitSpec, type LoadInput, type LoadPlan } from "../../../src/load/plan.js";
import { buildSummary, renderSummary } from "../../../src/load/report.js";
import { renderReport } from "../../../src/load/report-documents.js";
import { runLoad } from "../../../src/load/run.js";
import { LoadWorkers, WORKER_SEMI_SPACE_MB } from "../../../src/load/workers.js";
import { finished, spawnCli, waitForOutput } from "../../support/cli.js";
import { type TargetServer, withTargetAndTempDir } from "./target-server.js";

let target: TargetServer;
let dir: string;

withTargetAndTempDir("bulwark-load-workers-", (started, made) => {
  target = started;
  dir = made;
});

async function run(input: LoadInput) {
  const plan = buildPlan(input);
  return buildSummary(plan, await runLoad(plan));
}

test("a constant rate split across 2 workers offers the total rate, and merged percentiles match the injected latencies", async () => {
  // A known mix: 9 in 10 requests take 10 ms, 1 in 10 takes 100 ms. Each worker records its own
  // HDR histograms; the main thread merges them per interval, so the percentiles below are of
  // every request, from both threads.
  const file = join(dir, "mix.yaml");
  writeFileSync(
    file,
    [
      `target: ${target.url}`,
      "workers: 2",
      "requests:",
      "  - { name: fast, path: /delay/10 }",
      "  - { name: slow, path: /delay/100 }",
      "mix: { fast: 9, slow: 1 }",
      // A queue deeper than the whole run: even a worker starved for seconds by a busy machine
      // sends every iteration late rather than dropping it, so the count below is exact.
      "executor: { type: constant-arrival-rate, rate: 200, duration: 3s, maxQueue: 10000 }",
    ].join("\n"),
  );
  const before = target.count();
  const summary = await run({ target: file });
  assert.equal(summary.workers, 2);
  // The schedule is exact: 3 s × 200/s = 600 iterations, iterations 0, 2, 4, … in one worker and
  // 1, 3, 5, … in the other.
  assert.equal(summary.dropped, 0);
  assert.equal(summary.requests, 600);
  assert.equal(target.count() - before, 600);
  assert.equal(summary.errors, 0);
  // Achieved rate: 600 over the run plus the drain of the last requests (≤ ~0.3 s on a quiet
  // machine; up to a second when other work starves the threads).
  assert.ok(summary.rps >= 150 && summary.rps <= 205, `rps ${summary.rps}`);
  // The configured total, split in two, arrived in full: per interval 200/s on average.
  const full = summary.timeline.slice(0, -1);
  const mean = full.reduce((sum, sample) => sum + sample.rps, 0) / Math.max(1, full.length);
  assert.ok(mean >= 150 && mean <= 250, `mean interval rps ${mean}`);
  assert.equal(
    summary.timeline.reduce((sum, sample) => sum + sample.requests, 0),
    600,
  );
  // Per name: the server waits at least the injected delay; loopback and a busy machine add some
  // ms (upper bounds are loose: two cores shared with other test suites), never remove any.
  const fast = summary.byRequest.fast!;
  const slow = summary.byRequest.slow!;
  assert.equal(fast.requests + slow.requests, 600);
  assert.ok(slow.requests >= 25 && slow.requests <= 110, `slow ${slow.requests} of 600 (expected ~60)`);
  assert.ok(fast.latency.p50! >= 9.5 && fast.latency.p50! <= 50, `fast p50 ${fast.latency.p50}`);
  assert.ok(slow.latency.p50! >= 99 && slow.latency.p50! <= 200, `slow p50 ${slow.latency.p50}`);
  // Together: the median is a fast request, the p95 and p99 slow ones (the slowest tenth).
  assert.ok(summary.latency.p50! >= 9.5 && summary.latency.p50! <= 50, `p50 ${summary.latency.p50}`);
  assert.ok(summary.latency.p95! >= 99 && summary.latency.p95! <= 1000, `p95 ${summary.latency.p95}`);
  assert.ok(
    summary.serviceTime.p99! >= 99 && summary.serviceTime.p99! <= 1000,
    `p99 ${summary.serviceTime.p99}`,
  );
  // Each worker reports its own health; both did work.
  const workers = summary.generator.workers!;
  assert.equal(workers.length, 2);
  assert.deepEqual(
    workers.map((worker) => worker.worker),
    [1, 2],
  );
  for (const worker of workers) assert.ok(worker.utilization > 0, JSON.stringify(worker));
  // Terminal summary and reports say the run was split and show each worker.
  assert.match(renderSummary(summary), /2 worker threads[\s\S]*worker 1: cpu[\s\S]*worker 2: cpu/);
  const markdown = renderReport(summary, "md");
  assert.match(markdown, /, 2 worker threads\n/);
  assert.match(markdown, /\| worker \| cpu \(one core\) \|[\s\S]*\n\| 2 \| /);
});

test("worker threads start with their young generation at full size, so a long run's memory does not grow in steps", async () => {
  // V8's default would start each worker's new space at 4 MB and let it grow during the run
  // (docs/performance.md, "Load": 26 % resident-memory drift over 3 minutes).
  const plan = buildPlan({ target: `${target.url}/`, rate: "10", duration: "1s", workers: "2" });
  const workers = await LoadWorkers.start(plan, 2, {
    metrics: new RunMetrics(),
    byName: new Map(),
    abortGraceMs: 100,
  });
  try {
    assert.equal(workers.newSpaceBytes.length, 2);
    for (const bytes of workers.newSpaceBytes)
      assert.ok(bytes >= WORKER_SEMI_SPACE_MB * 2 ** 20, `new space ${bytes} bytes`);
  } finally {
    await workers.terminate();
  }
});

test("VUs split across 2 workers keep the VU count, constant and ramping", async () => {
  target.takeMaxInFlight();
  const constant = await run({ target: `${target.url}/delay/50`, vus: "4", duration: "2s", workers: "2" });
  // Exactly 4 requests were ever in progress at once: 2 VUs per worker, each waiting for its answer.
  assert.equal(target.takeMaxInFlight(), 4);
  assert.equal(constant.workers, 2);
  // 4 VUs × 2 s / ≥ 50 ms per request: at most 160 (fewer when the machine is busy).
  assert.ok(constant.requests >= 40 && constant.requests <= 165, `requests ${constant.requests}`);
  assert.ok(constant.latency.p50! >= 49 && constant.latency.p50! <= 150, `p50 ${constant.latency.p50}`);

  const file = join(dir, "ramp.yaml");
  writeFileSync(
    file,
    [
      `target: ${target.url}`,
      "requests: [{ name: slow, path: /delay/30 }]",
      "executor:",
      "  type: ramping-vus",
      "  stages: [{ duration: 600ms, target: 5 }, { duration: 900ms, target: 5 }]",
    ].join("\n"),
  );
  target.takeMaxInFlight();
  const ramp = await run({ target: file, workers: "2" });
  // VUs 0, 2, 4 in worker 1 and 1, 3 in worker 2: never more than 5 at once, and 5 are reached.
  assert.equal(target.takeMaxInFlight(), 5);
  assert.equal(ramp.workers, 2);
  assert.ok(ramp.requests > 50, `requests ${ramp.requests}`);
});

test("sequential data rows are dealt across workers: each row once, not each worker from row 0", async () => {
  const rows = Array.from({ length: 20 }, (_, index) => ({ id: `r${index}` }));
  writeFileSync(join(dir, "rows.json"), JSON.stringify(rows));
  const file = join(dir, "rows.yaml");
  writeFileSync(
    file,
    [
      `target: ${target.url}`,
      "data: { file: rows.json, mode: sequential }",
      "requests: [{ name: row, path: '/row/${data.id}' }]",
      "executor: { type: constant-arrival-rate, rate: 20, duration: 1s, maxQueue: 1000 }",
    ].join("\n"),
  );
  target.paths.clear();
  const summary = await run({ target: file, workers: "2" });
  assert.equal(summary.requests, 20);
  // Worker 1 read rows 0, 2, 4, …, worker 2 rows 1, 3, 5, …: together every row exactly once.
  // (Had each worker started at row 0, rows 0–9 would appear twice and 10–19 never.)
  assert.deepEqual([...target.paths.entries()].sort(), rows.map((row) => [`/row/${row.id}`, 1]).sort());
});

test("an abortOnFail threshold stops every worker", async () => {
  const summary = await run({
    target: `${target.url}/status/500`,
    rate: "100",
    duration: "20s",
    workers: "2",
    thresholds: ["error_rate<1% over 1s abortOnFail"],
  });
  assert.equal(summary.partial, true);
  assert.equal(summary.abortedBy?.expression, "error_rate<1% over 1s abortOnFail");
  assert.equal(summary.ok, false);
  // The first 1 s window fails; the run (of 20 s) stops there, plus the 1 s grace.
  assert.ok(summary.abortedBy!.atMs < 5000, `aborted at ${summary.abortedBy!.atMs} ms`);
  assert.ok(summary.elapsedMs < 8000, `stopped after ${summary.elapsedMs} ms`);
  assert.ok(summary.errorsByClass.http > 0);
});

test("--find-limit with workers: every step is split and judged on the merged figures", async () => {
  const plan = buildPlan({
    target: `${target.url}/delay/5`,
    findLimit: true,
    rate: "60",
    step: "60",
    maxRate: "120",
    stepDuration: "2s",
    maxQueue: "10000",
    workers: "2",
    thresholds: ["p(95)<500ms"],
  }) as LoadPlan & { findLimit: FindLimitSpec };
  assert.equal(plan.workers, 2);
  const before = target.count();
  const limit = await findLimit(plan);
  // A 5 ms target holds 120/s easily. A step can still be judged broken (the drain at the end of
  // a 2 s step pulls the achieved rate under the 90 % bar) or generator-bound (other work
  // starving the threads) on a busy machine; whatever the verdict, every step ran its exact
  // split schedule (the queue is deeper than a step, so nothing is dropped).
  assert.ok(["max-rate-held", "broken", "generator-bound"].includes(limit.outcome), limit.outcome);
  assert.equal(limit.steps[0]!.rate, 60);
  const expected = [120, 240];
  limit.steps.forEach((step, index) => {
    assert.equal(step.dropped, 0);
    assert.equal(step.requests, expected[index]);
  });
  assert.equal(
    target.count() - before,
    limit.steps.reduce((sum, step) => sum + step.requests, 0),
  );
  if (limit.outcome === "max-rate-held") {
    assert.equal(limit.steps.length, 2);
    assert.equal(limit.limitRun?.workers, 2);
  }
});

test("a worker that dies fails the run loudly instead of offering less load", async () => {
  const plan = buildPlan({ target: `${target.url}/delay/5`, rate: "100", duration: "20s", workers: "2" });
  const started = performance.now();
  await assert.rejects(
    runLoad(plan, {
      onWorkerStart: (worker, index) => {
        // Worker 2 disappears mid-run, as a thread killed by an out-of-memory or native crash.
        if (index === 1) setTimeout(() => void worker.terminate(), 1000);
      },
    }),
    (error: unknown) =>
      isBulwarkError(error) &&
      error.code === "load_worker_failed" &&
      error.exitCode === ExitCode.Runtime &&
      /^load worker 2 of 2 exited unexpectedly \(exit code 1\) before the run ended/.test(error.message),
  );
  assert.ok(performance.now() - started < 8000, "the failure is reported at once, not at the end");
  // And the surviving worker was stopped: no more requests reach the target.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const count = target.count();
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(target.count(), count);
});

test("Ctrl-C with workers stops them all and still writes a partial report", async () => {
  const out = join(dir, "partial.json");
  const child = spawnCli([
    "load",
    `${target.url}/delay/5`,
    "--rate",
    "50",
    "--duration",
    "30s",
    "--workers",
    "2",
    "--out",
    out,
    "--no-evidence",
  ]);
  await waitForOutput(child, /rate [\d.]+\/s/, 15_000);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  child.kill("SIGINT");
  const result = await finished(child, 15_000);
  assert.equal(result.code, ExitCode.Interrupted, result.stderr);
  assert.match(result.stderr, /PARTIAL/);
  assert.match(result.stderr, /2 worker threads/);
  const summary = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(summary.partial, true);
  assert.equal(summary.workers, 2);
  assert.ok(summary.requests >= 50, `requests ${summary.requests}`);
  assert.ok(summary.elapsedMs < 15_000, `elapsed ${summary.elapsedMs}`);
  assert.equal(summary.generator.workers.length, 2);
});

test("a scenario's workers key is validated with its position", () => {
  const file = join(dir, "bad-workers.yaml");
  writeFileSync(file, `target: ${target.url}\nrequests: [{ name: a, path: / }]\nworkers: many\n`);
  assert.throws(
    () => buildPlan({ target: file, vus: "2", duration: "1s" }),
    (error: unknown) =>
      isBulwarkError(error) &&
      error.details.some(
        (line) =>
          /bad-workers\.yaml:3:\d+ ?workers/.test(line) && /positive whole number or "auto"/.test(line),
      ),
  );
  const good = join(dir, "workers.yaml");
  writeFileSync(good, `target: ${target.url}\nrequests: [{ name: a, path: / }]\nworkers: 2\n`);
  assert.equal(buildPlan({ target: good, vus: "2", duration: "1s" }).workers, 2);
  // The flag wins over the file.
  assert.equal(buildPlan({ target: good, vus: "2", duration: "1s", workers: "1" }).workers, undefined);
});
