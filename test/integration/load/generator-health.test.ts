/**
 * Generator self-health against a real local target: a run whose generator is made the
 * bottleneck — its event loop blocked on purpose in-process, or a rate far above what one core
 * can send — is marked invalid with a reason; a calm run is valid.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { buildPlan } from "../../../src/load/plan.js";
import { buildSummary, renderSummary } from "../../../src/load/report.js";
import { runLoad } from "../../../src/load/run.js";
import { runCli } from "../../support/cli.js";
import { refusedUrl, type TargetServer, withTargetAndTempDir } from "./target-server.js";

let target: TargetServer;
let dir: string;

withTargetAndTempDir("bulwark-load-health-", (started, made) => {
  target = started;
  dir = made;
});

test("a calm run at 20 req/s is valid and reports its own health per interval", async () => {
  const plan = buildPlan({ target: `${target.url}/`, rate: "20", duration: "3s" });
  const summary = buildSummary(plan, await runLoad(plan));
  assert.equal(summary.valid, true, summary.generator.reasons.join("; "));
  assert.equal(summary.generator.valid, true);
  assert.ok(summary.generator.eventLoop.utilization < 0.9);
  assert.ok(summary.timeline.length >= 3, `intervals ${summary.timeline.length}`);
  for (const sample of summary.timeline) {
    assert.ok(sample.generator.cpu >= 0);
    assert.ok(sample.generator.rssBytes > 0);
  }
  assert.equal(summary.generator.intervals, summary.timeline.length);
});

test("an event loop blocked in-process (a test hook, not a user feature) makes the run invalid", async () => {
  const plan = buildPlan({ target: `${target.url}/`, rate: "100", duration: "3s" });
  // Block the generator's own event loop 250 ms out of every 300 ms while it runs: the target is
  // idle, so whatever the latency shows is the generator's fault.
  const blocker = setInterval(() => {
    const until = performance.now() + 250;
    while (performance.now() < until) {
      // deliberately busy
    }
  }, 50);
  let summary: ReturnType<typeof buildSummary>;
  try {
    // In this thread: in a worker thread (the default) the block would not reach the generator.
    summary = buildSummary(plan, await runLoad(plan, { inThisThread: true }));
  } finally {
    clearInterval(blocker);
  }
  assert.equal(summary.valid, false);
  assert.equal(summary.generator.valid, false);
  assert.ok(summary.generator.boundIntervals >= 1);
  assert.ok(summary.generator.eventLoop.lagMaxMs >= 150, `lag ${summary.generator.eventLoop.lagMaxMs}`);
  assert.match(summary.generator.reasons.join("\n"), /generator was the bottleneck|busy/);
  assert.match(renderSummary(summary), /INVALID/);
});

test("through the CLI: a rate far above what one core can send is flagged invalid", async () => {
  // The target refuses connections, so every iteration is the generator's own work (a socket
  // opened and failed), whatever else the machine is doing: at 200,000/s one core cannot keep up.
  const out = join(dir, "flood.json");
  const result = await runCli(
    [
      "load",
      await refusedUrl(),
      "--rate",
      "200000",
      "--connections",
      "100",
      // Short: this saturates a core on purpose, and other tests share the machine.
      "--duration",
      "1s",
      "--out",
      out,
      "--no-evidence",
    ],
    { timeoutMs: 30_000 },
  );
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(summary.valid, false);
  assert.ok(summary.generator.boundIntervals >= 1, JSON.stringify(summary.generator));
  assert.ok(summary.generator.eventLoop.utilization >= 0.9, JSON.stringify(summary.generator));
  assert.ok(summary.generator.reasons.length >= 1);
  assert.ok(summary.dropped > 0);
  assert.match(result.stderr, /INVALID/);
});
