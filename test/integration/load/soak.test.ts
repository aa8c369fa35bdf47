/**
 * Soak analysis against real target processes: one whose memory deliberately grows, one whose
 * memory stays flat. Memory is read from /proc/PID/status (--target-pid) and from a Prometheus
 * text endpoint (--prom-metric); the growing one must be flagged as drift, the flat one not.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import { buildPlan } from "../../../src/load/plan.js";
import { buildSummary, type LoadSummary } from "../../../src/load/report.js";
import { runLoad } from "../../../src/load/run.js";
import { memorySource } from "../../../src/load/target-memory.js";

const FIXTURE = join(import.meta.dirname, "memory-target.mjs");
const children: ChildProcess[] = [];
let dir: string;

async function startMemoryTarget(growKbPer100ms: number): Promise<{ url: string; pid: number }> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, GROW_KB_PER_100MS: String(growKbPer100ms) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once("exit", (code) => reject(new Error(`memory target exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid! };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "bulwark-load-soak-"));
});

after(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("a target whose memory grows is flagged; a flat one is not (pid and Prometheus sources)", async () => {
  // 1 MiB every 100 ms: ~10 MiB/s on a ~50 MiB process, +100 % or more over 12 s.
  const [growing, flat] = await Promise.all([startMemoryTarget(1024), startMemoryTarget(0)]);
  const growOut = join(dir, "grow.json");
  const flatPlan = buildPlan({
    target: `${flat.url}/`,
    rate: "50",
    duration: "12s",
    thresholds: ["drifting==0"],
  });
  const [code, flatResult] = await Promise.all([
    main([
      "load",
      `${growing.url}/`,
      "--rate",
      "50",
      "--duration",
      "12s",
      "--target-pid",
      String(growing.pid),
      "--out",
      growOut,
      "--no-evidence",
      "--threshold",
      "drifting==0",
    ]),
    runLoad(flatPlan, {
      memory: memorySource({ promMetric: `${flat.url}/metrics#process_resident_memory_bytes` }),
    }),
  ]);
  // The drift gate turns the leak into a failed run (exit 1).
  assert.equal(code, ExitCode.Failed);
  const grow = JSON.parse(readFileSync(growOut, "utf8")) as LoadSummary;
  assert.equal(grow.thresholds[0]!.ok, false);
  assert.equal(grow.thresholds[0]!.actual, grow.trends.drifting.length);
  assert.equal(grow.targetMemory!.source, `VmRSS of pid ${growing.pid}`);
  assert.equal(grow.targetMemory!.failedReadings, 0);
  assert.ok(grow.timeline.every((sample) => (sample.targetMemoryBytes ?? 0) > 1e6));
  const growTrend = grow.trends.targetMemory!;
  assert.equal(growTrend.judged, true);
  assert.equal(growTrend.drift, true, JSON.stringify(growTrend));
  assert.ok(growTrend.change! >= 0.5, `change ${growTrend.change}`);
  assert.ok(growTrend.slopePerHour! > 0);
  assert.ok(grow.trends.drifting.includes("targetMemory"));

  const flatSummary = buildSummary(flatPlan, flatResult);
  assert.match(flatSummary.targetMemory!.source, /^process_resident_memory_bytes from http/);
  assert.equal(flatSummary.targetMemory!.failedReadings, 0);
  const flatTrend = flatSummary.trends.targetMemory!;
  assert.equal(flatTrend.judged, true);
  assert.equal(flatTrend.drift, false, JSON.stringify(flatTrend));
  assert.ok(Math.abs(flatTrend.change!) < 0.1, `change ${flatTrend.change}`);
  assert.ok(!flatSummary.trends.drifting.includes("targetMemory"));
  assert.equal(flatSummary.thresholds[0]!.actual, flatSummary.trends.drifting.length);
  // p99 and error rate are judged too, and a healthy target drifts in neither.
  assert.equal(flatSummary.trends.p99.judged, true);
  assert.equal(flatSummary.trends.errorRate.drift, false);
});

test("memory sources are checked before anything is sent", () => {
  assert.throws(() => memorySource({ targetPid: "abc" }), /--target-pid: expected a process id/);
  assert.throws(() => memorySource({ targetPid: "999999999" }), /cannot read \/proc\/999999999/);
  assert.throws(() => memorySource({ promMetric: "http://127.0.0.1:1/metrics" }), /URL#metric_name/);
  assert.throws(() => memorySource({ promMetric: "ftp://x/metrics#m" }), /URL#metric_name/);
  assert.throws(() => memorySource({ promMetric: "http://x/metrics#9bad" }), /URL#metric_name/);
  assert.throws(() => memorySource({ targetPid: "1", promMetric: "http://x/#m" }), /not both/);
  assert.equal(memorySource({}), undefined);
});

test("an unreachable metrics endpoint counts failed readings and never fails the run", async () => {
  const target = await startMemoryTarget(0);
  const plan = buildPlan({ target: `${target.url}/`, rate: "20", duration: "2s" });
  const result = await runLoad(plan, {
    memory: memorySource({ promMetric: "http://127.0.0.1:1/metrics#process_resident_memory_bytes" }),
  });
  const summary = buildSummary(plan, result);
  assert.ok(summary.targetMemory!.failedReadings >= 2);
  assert.ok(summary.timeline.every((sample) => sample.targetMemoryBytes === null));
  assert.equal(summary.trends.targetMemory!.judged, false);
  assert.ok(summary.requests >= 30);
});
