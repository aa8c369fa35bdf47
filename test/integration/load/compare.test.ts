/**
 * `bulwark load compare` on summaries of real runs: a slower target is a significant
 * regression (exit 1); the same target twice is not (exit 0); bad input is a usage error.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import type { Comparison } from "../../../src/load/compare.js";
import { buildPlan } from "../../../src/load/plan.js";
import { buildSummary, writeJsonAtomic } from "../../../src/load/report.js";
import { runLoad } from "../../../src/load/run.js";
import { startTarget, type TargetServer } from "./target-server.js";

let target: TargetServer;
let dir: string;
const files = { base: "", same: "", slow: "" };

before(async () => {
  target = await startTarget();
  dir = mkdtempSync(join(tmpdir(), "bulwark-load-compare-"));
  // Three 10 s runs at 10 req/s side by side: 10 intervals each, enough for the rank test. The
  // slow target answers 600 ms later, so even on a busy machine its intervals' p95s sit above
  // the base's.
  const runs = { base: "/delay/5", same: "/delay/5", slow: "/delay/600" } as const;
  await Promise.all(
    Object.entries(runs).map(async ([name, path]) => {
      const plan = buildPlan({ target: `${target.url}${path}`, rate: "10", duration: "10s" });
      const file = join(dir, `${name}.json`);
      writeJsonAtomic(file, buildSummary(plan, await runLoad(plan)));
      files[name as keyof typeof files] = file;
    }),
  );
});

after(async () => {
  await target.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a target 600 ms slower is a significant regression: exit 1, with p-value and deltas", async () => {
  const out = join(dir, "slow-comparison.json");
  const code = await main(["load", "compare", files.base, files.slow, "--out", out]);
  assert.equal(code, ExitCode.Failed);
  const comparison = JSON.parse(readFileSync(out, "utf8")) as Comparison;
  assert.equal(comparison.kind, "load-comparison");
  assert.equal(comparison.regression, true);
  const p95 = comparison.metrics.find((metric) => metric.metric === "p95")!;
  assert.equal(p95.verdict, "regression");
  assert.ok(p95.p! < comparison.options.alpha, `p ${p95.p}`);
  assert.ok(p95.relative! > 1, `relative ${p95.relative}`);
  assert.ok(p95.samples.base >= 8 && p95.samples.new >= 8);
  // Same offered rate, no errors: throughput and errors do not regress.
  assert.notEqual(comparison.metrics.find((metric) => metric.metric === "rps")!.verdict, "regression");
  assert.equal(
    comparison.metrics.find((metric) => metric.metric === "errorRate")!.verdict,
    "no significant change",
  );
  const row = comparison.table.find((item) => item.name === "latency p95 (ms)")!;
  assert.ok(row.new! - row.base! > 300);
  // Reversed, the slow run is the base: an improvement, exit 0.
  assert.equal(await main(["load", "compare", files.slow, files.base]), ExitCode.Ok);
});

test("the same target twice is no significant regression; a bound above the change passes too", async () => {
  const out = join(dir, "same-comparison.json");
  assert.equal(await main(["load", "compare", files.base, files.same, "--out", out]), ExitCode.Ok);
  const comparison = JSON.parse(readFileSync(out, "utf8")) as Comparison;
  assert.equal(comparison.regression, false);
  // Slower by several times, but the bar is set at +50,000 %: significant, yet within the bound.
  const bounded = join(dir, "bounded-comparison.json");
  assert.equal(
    await main(["load", "compare", files.base, files.slow, "--max-regression", "50000%", "--out", bounded]),
    ExitCode.Ok,
  );
  const within = JSON.parse(readFileSync(bounded, "utf8")) as Comparison;
  assert.equal(within.metrics.find((metric) => metric.metric === "p95")!.verdict, "within bound");
});

test("bad input is a usage error naming the file", async () => {
  const notJson = join(dir, "not.json");
  writeFileSync(notJson, "{");
  const other = join(dir, "other.json");
  writeFileSync(other, JSON.stringify({ kind: "check-report", version: 1 }));
  assert.equal(await main(["load", "compare", files.base]), ExitCode.UsageOrConfig);
  assert.equal(await main(["load", "compare", files.base, notJson]), ExitCode.UsageOrConfig);
  assert.equal(await main(["load", "compare", files.base, other]), ExitCode.UsageOrConfig);
  assert.equal(
    await main(["load", "compare", files.base, join(dir, "missing.json")]),
    ExitCode.UsageOrConfig,
  );
  assert.equal(
    await main(["load", "compare", files.base, files.same, "--max-regression", "lots"]),
    ExitCode.UsageOrConfig,
  );
  assert.equal(
    await main(["load", "compare", files.base, files.same, "--alpha", "2"]),
    ExitCode.UsageOrConfig,
  );
});

test("too few intervals make the verdict inconclusive, not a pass by silence", async () => {
  const short = join(dir, "short.json");
  const plan = buildPlan({ target: `${target.url}/delay/40`, rate: "20", duration: "2s" });
  writeJsonAtomic(short, buildSummary(plan, await runLoad(plan)));
  const out = join(dir, "short-comparison.json");
  assert.equal(await main(["load", "compare", files.base, short, "--out", out]), ExitCode.Ok);
  const comparison = JSON.parse(readFileSync(out, "utf8")) as Comparison;
  const p95 = comparison.metrics.find((metric) => metric.metric === "p95")!;
  assert.equal(p95.verdict, "inconclusive");
  assert.match(p95.note!, /at least 8 intervals/);
  assert.ok(comparison.warnings.some((warning) => /different load/.test(warning)));
});
