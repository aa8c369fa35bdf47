/**
 * `bulwark load` measurement against real local servers: reported percentiles match injected
 * latency, a stall shows in the corrected p99 as wrk2's method says it must, and a rate the
 * connections cannot carry is reported as dropped iterations.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { buildPlan } from "../../../src/load/plan.js";
import { buildSummary, renderSummary } from "../../../src/load/report.js";
import { runLoad } from "../../../src/load/run.js";
import { startTarget, type TargetServer } from "./target-server.js";

let target: TargetServer;

before(async () => {
  target = await startTarget();
});

after(async () => {
  await target.close();
});

async function run(url: string, flags: Record<string, string>) {
  const plan = buildPlan({ target: url, ...flags });
  const result = await runLoad(plan);
  return buildSummary(plan, result);
}

test("a fixed 20 ms upstream at 200 req/s for 2 s reports p50 ≈ 20 ms and ≈ 400 requests", async () => {
  const summary = await run(`${target.url}/delay/20`, { rate: "200", duration: "2s" });
  // Tolerance: the server's timer fires at ≥ 20 ms; loopback, parsing and timer lateness on a
  // busy CI machine add a few ms, never remove any. So 19–35 ms.
  assert.ok(summary.latency.p50! >= 19 && summary.latency.p50! <= 35, `p50 ${summary.latency.p50}`);
  assert.ok(
    summary.serviceTime.p50! >= 19 && summary.serviceTime.p50! <= 35,
    `service p50 ${summary.serviceTime.p50}`,
  );
  // 2 s × 200/s = 400 intended sends; ±5 %.
  assert.ok(summary.requests >= 380 && summary.requests <= 420, `requests ${summary.requests}`);
  assert.equal(summary.dropped, 0);
  assert.equal(summary.errors, 0);
  assert.equal(summary.statusCodes["200"], summary.requests);
  assert.ok(summary.bytesReceived >= summary.requests * 2);
  assert.ok(summary.rps > 180 && summary.rps < 210, `rps ${summary.rps}`);
});

test("a 1 s stall under a constant 100 req/s shows in the corrected p99 (coordinated omission)", async () => {
  // wrk2's README (github.com/giltene/wrk2, its note on the latency measurement technique and
  // Coordinated Omission) explains the arithmetic: at a constant 100 req/s, a 1 s stall delays every request
  // that *should* have been sent during it. A tester that waits for the stalled answer before
  // sending the next records one slow sample and ~100 missing ones, so its p99 hides the stall.
  // Timed from the intended send time, the ~100 requests due during the stall are charged
  // 1000, 990, …, 10 ms: about a third of the 300 samples, so the corrected p99 is ≈ 970 ms and
  // must be well above 500 ms. Service time (from the actual send) still sees one slow request
  // only, so its p50 stays at loopback speed.
  const summary = await run(`${target.url}/stall/100/1000`, {
    rate: "100",
    duration: "3s",
    connections: "1",
  });
  // Bounds leave room for CPU contention: CI runs three test files at once on two CPUs.
  assert.ok(summary.requests >= 270 && summary.requests <= 305, `requests ${summary.requests}`);
  assert.equal(summary.dropped, 0, "the queue holds 2 s of arrivals, so a 1 s stall drops nothing");
  assert.ok(summary.latency.p99! >= 500, `corrected p99 ${summary.latency.p99}`);
  assert.ok(summary.latency.max! >= 990, `corrected max ${summary.latency.max}`);
  assert.ok(summary.serviceTime.p50! < 50, `service p50 ${summary.serviceTime.p50}`);
  assert.ok(summary.serviceTime.p90! < 100, `service p90 ${summary.serviceTime.p90}`);
  assert.ok(summary.serviceTime.max! >= 990, `service max ${summary.serviceTime.max}`);
});

test("a rate one connection cannot carry is reported as dropped iterations", async () => {
  // One connection to a 50 ms upstream carries at most 20 req/s; 500/s is asked for 1 s.
  const summary = await run(`${target.url}/delay/50`, { rate: "500", duration: "1s", connections: "1" });
  assert.ok(summary.requests <= 25, `requests ${summary.requests}`);
  assert.ok(summary.dropped > 400, `dropped ${summary.dropped}`);
  // every intended iteration is either sent or dropped; none vanish
  assert.ok(
    Math.abs(summary.requests + summary.dropped - 500) <= 5,
    `${summary.requests} + ${summary.dropped}`,
  );
  assert.match(renderSummary(summary), /DROPPED\s+\d+ iterations were never sent/);
});

test("--max-queue 0 drops at once when the connection is busy (k6 semantics)", async () => {
  const summary = await run(`${target.url}/delay/50`, {
    rate: "100",
    duration: "1s",
    connections: "1",
    maxQueue: "0",
  });
  assert.ok(summary.dropped >= 70, `dropped ${summary.dropped}`);
  // nothing waited, so corrected latency stays near the 50 ms service time; a queue would have
  // pushed it towards the whole second (the bound leaves room for a loaded machine)
  assert.ok(summary.latency.p99! < 300, `p99 ${summary.latency.p99}`);
});

test("the closed model loops request→response per VU", async () => {
  const summary = await run(`${target.url}/delay/20`, { vus: "4", duration: "1s" });
  // 4 VUs × ~1 s / ~21 ms ≈ 190 requests
  assert.ok(summary.requests >= 120 && summary.requests <= 200, `requests ${summary.requests}`);
  assert.equal(summary.executor.kind, "constant-vus");
  assert.equal(summary.dropped, 0);
  assert.ok(summary.latency.p50! >= 19 && summary.latency.p50! <= 35);
});
