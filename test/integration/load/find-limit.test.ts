/**
 * --find-limit against a target whose capacity is known (100 requests/s: a single-server queue
 * of 10 ms per request, in its own process): the reported limit must be within one step below
 * the capacity and never above it, with evidence per step.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import type { LimitSummary } from "../../../src/load/find-limit.js";
import { buildPlan } from "../../../src/load/plan.js";
import { finished, spawnCli, waitForOutput } from "../../support/cli.js";

const SERVICE_MS = 10;
const CAPACITY = 1000 / SERVICE_MS;
let server: { url: string; child: ChildProcess };
let dir: string;

before(async () => {
  const child = spawn(process.execPath, [join(import.meta.dirname, "capacity-target.mjs")], {
    env: { ...process.env, SERVICE_MS: String(SERVICE_MS) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once("exit", (code) => reject(new Error(`capacity target exited ${code}`)));
  });
  server = { url: `http://127.0.0.1:${port}/`, child };
  dir = mkdtempSync(join(tmpdir(), "bulwark-load-limit-"));
});

after(() => {
  server.child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("finds the limit of a 100 req/s target within one 25 req/s step below it", async () => {
  const out = join(dir, "limit.json");
  const code = await main([
    "load",
    server.url,
    "--find-limit",
    "--rate",
    "25",
    "--step",
    "25",
    "--step-duration",
    "3s",
    "--max-rate",
    "200",
    "--threshold",
    // p95, not p99: a 3 s step at 25/s has 75 requests, and one scheduling hiccup of a busy
    // machine must not decide it.
    "p(95)<300ms",
    "--out",
    out,
    "--report",
    join(dir, "limit.md"),
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.Ok);
  const summary = JSON.parse(readFileSync(out, "utf8")) as LimitSummary;
  assert.equal(summary.kind, "load-limit");
  assert.match(
    readFileSync(join(dir, "limit.md"), "utf8"),
    new RegExp(`\\*\\*limit: ${summary.limit}/s\\*\\*`),
  );
  assert.equal(summary.outcome, "broken");
  // Tolerance: the limit is a step rate, so it lands on the step at or below the capacity:
  // 100 when the queue stays short at exactly ρ = 1, 75 when timer jitter queues enough at 100.
  // Above capacity the queue grows by 25 requests a second: at 125/s, ~75 queued × 10 ms after
  // 3 s, a p95 far above 300 ms, so the search can never report more than the capacity.
  assert.ok(summary.limit! >= CAPACITY - 25 && summary.limit! <= CAPACITY, `limit ${summary.limit}`);
  assert.equal(summary.breakingRate, summary.limit! + 25);
  assert.deepEqual(
    summary.steps.map((step) => step.rate),
    Array.from({ length: summary.limit! / 25 + 1 }, (_, index) => 25 * (index + 1)),
  );
  for (const step of summary.steps.slice(0, -1)) {
    assert.equal(step.sustainable, true);
    assert.ok(step.achievedRps >= 0.9 * step.rate, `achieved ${step.achievedRps} at ${step.rate}`);
    assert.ok(step.latency.p95! < 300);
    assert.equal(step.dropped, 0);
  }
  const last = summary.steps.at(-1)!;
  assert.equal(last.sustainable, false);
  assert.ok(last.broke.length > 0);
  assert.equal(summary.limitRun!.executor.kind, "constant-arrival-rate");
  assert.equal((summary.limitRun!.executor as { rate: number }).rate, summary.limit);
});

test("the stress preset is a breaking-point search in 10 steps up to its top rate", () => {
  const plan = buildPlan({ target: "http://127.0.0.1:1/", preset: "stress" });
  assert.deepEqual(plan.findLimit, {
    startRate: 100,
    stepRate: 100,
    maxRate: 1000,
    stepDurationMs: 60_000,
    connections: 100,
    maxQueue: undefined,
  });
  assert.deepEqual(
    plan.thresholds.map((threshold) => threshold.expression),
    ["p(99)<1s", "error_rate<1%"],
  );
  const scaled = buildPlan({ target: "http://127.0.0.1:1/", preset: "stress", rate: "300", duration: "20s" });
  assert.equal(scaled.findLimit!.stepRate, 30);
  assert.equal(scaled.findLimit!.stepDurationMs, 2000);
  assert.throws(() => buildPlan({ target: "http://127.0.0.1:1/", preset: "stress", vus: "5" }), /--rate/);
  assert.throws(
    () => buildPlan({ target: "http://127.0.0.1:1/", findLimit: true }),
    /--find-limit needs --rate/,
  );
  assert.throws(
    () => buildPlan({ target: "http://127.0.0.1:1/", findLimit: true, rate: "10", duration: "5s" }),
    /--step-duration/,
  );
  assert.throws(
    () => buildPlan({ target: "http://127.0.0.1:1/", rate: "10", duration: "5s", step: "5" }),
    /--step applies to --find-limit/,
  );
});

test("through the CLI: --preset stress stops at the breaking point", async () => {
  const out = join(dir, "stress.json");
  const code = await main([
    "load",
    server.url,
    "--preset",
    "stress",
    "--rate",
    "250",
    "--duration",
    "25s",
    // abortOnFail ends a breaking step early; the step still counts as broken, not interrupted.
    "--threshold",
    "p(50)<300ms over 1s abortOnFail",
    "--out",
    out,
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.Ok);
  const summary = JSON.parse(readFileSync(out, "utf8")) as LimitSummary;
  // Steps of 25/s, 2.5 s each: stops at the first step past 100/s, never runs to 250/s.
  assert.equal(summary.outcome, "broken");
  assert.ok(summary.limit! >= CAPACITY - 25 && summary.limit! <= CAPACITY, `limit ${summary.limit}`);
  assert.ok(summary.steps.length <= 5);
  assert.equal(summary.search.stepDurationMs, 2500);
});

test("Ctrl-C during a search writes the steps so far, marked partial, and exits 130", async () => {
  const out = join(dir, "interrupted.json");
  const child = spawnCli([
    "load",
    server.url,
    "--find-limit",
    "--rate",
    "10",
    "--step-duration",
    "1s",
    "--max-rate",
    "80",
    "--out",
    out,
    "--no-evidence",
  ]);
  await waitForOutput(child, /step 10\/s: achieved/, 15_000);
  child.kill("SIGINT");
  const result = await finished(child, 10_000);
  assert.equal(result.code, ExitCode.Interrupted, result.stderr);
  const summary = JSON.parse(readFileSync(out, "utf8")) as LimitSummary;
  assert.equal(summary.partial, true);
  assert.equal(summary.outcome, "interrupted");
  assert.ok(summary.steps.length >= 1 && summary.steps.length < 8, `${summary.steps.length} steps`);
  assert.equal(summary.steps[0]!.rate, 10);
});
