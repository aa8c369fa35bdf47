/**
 * `bulwark load merge`: summaries of generators run side by side merge into one, with
 * percentiles from the merged histograms (not averaged), counts and rates summed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import { buildPlan } from "../../../src/load/plan.js";
import { buildSummary, type LoadSummary, writeJsonAtomic } from "../../../src/load/report.js";
import { runLoad } from "../../../src/load/run.js";
import { startTarget, type TargetServer } from "./target-server.js";

let target: TargetServer;
let dir: string;
const summaries: LoadSummary[] = [];
const files: string[] = [];

before(async () => {
  target = await startTarget();
  dir = mkdtempSync(join(tmpdir(), "bulwark-load-merge-"));
  // Two generators side by side: 30/s against a fast path, 10/s against a 200 ms one, so three
  // quarters of the merged requests are fast and one quarter slow.
  const parts = [
    { path: "/delay/2", rate: "30" },
    { path: "/delay/200", rate: "10" },
  ];
  const results = await Promise.all(
    parts.map(async ({ path, rate }) => {
      const plan = buildPlan({
        target: `${target.url}${path}`,
        rate,
        duration: "3s",
        thresholds: ["p(50)<100ms", "rps>35", "p(99)<5s over 1s", "service_p(50)<100ms"],
      });
      return buildSummary(plan, await runLoad(plan));
    }),
  );
  results.forEach((summary, index) => {
    const file = join(dir, `part-${index}.json`);
    writeJsonAtomic(file, summary);
    summaries.push(summary);
    files.push(file);
  });
});

after(async () => {
  await target.close();
  rmSync(dir, { recursive: true, force: true });
});

test("merged percentiles come from the merged histograms; counts and rates are summed", async () => {
  const out = join(dir, "merged.json");
  const evidence = join(dir, "evidence");
  const code = await main(["load", "merge", ...files, "--out", out, "--evidence-dir", evidence]);
  const merged = JSON.parse(readFileSync(out, "utf8")) as LoadSummary;
  const [fast, slow] = summaries as [LoadSummary, LoadSummary];
  assert.equal(merged.kind, "load-summary");
  assert.equal(merged.requests, fast.requests + slow.requests);
  assert.equal(merged.errors, 0);
  assert.equal(merged.statusCodes["200"], fast.requests + slow.requests);
  assert.ok(Math.abs(merged.rps - (fast.rps + slow.rps)) < 0.02);
  assert.equal(merged.merged!.inputs.length, 2);
  // 75 % of requests are fast: the merged median is a fast request's latency, far below the
  // average of the two medians (~100 ms); the merged p90 is a slow one's.
  assert.ok(merged.latency.p50! < 100, `merged p50 ${merged.latency.p50}`);
  assert.ok(merged.latency.p50! < (fast.latency.p50! + slow.latency.p50!) / 2);
  assert.ok(merged.latency.p90! >= 195, `merged p90 ${merged.latency.p90}`);
  // HDR keeps 3 significant digits: the merged max is the input max to within 0.1 %.
  const inputMax = Math.max(fast.latency.max!, slow.latency.max!);
  assert.ok(
    Math.abs(merged.latency.max! - inputMax) / inputMax < 0.001,
    `${merged.latency.max} vs ${inputMax}`,
  );
  // Whole-run thresholds are evaluated again on the merged figures: the slow part alone fails
  // p(50)<100ms and neither part alone reaches rps>35, the merged run passes both.
  const byExpression = Object.fromEntries(merged.thresholds.map((result) => [result.expression, result]));
  assert.equal(slow.thresholds[0]!.ok, false);
  assert.equal(byExpression["p(50)<100ms"]!.ok, true);
  assert.equal(fast.thresholds[1]!.ok, false);
  assert.equal(byExpression["rps>35"]!.ok, true);
  // The same for service time, from the merged service-time histograms.
  assert.equal(slow.thresholds[3]!.ok, false);
  assert.equal(byExpression["service_p(50)<100ms"]!.ok, true);
  assert.equal(byExpression["service_p(50)<100ms"]!.actual, merged.serviceTime.p50);
  // Windowed ones keep the inputs' verdicts.
  assert.equal(byExpression["p(99)<5s over 1s"]!.ok, true);
  assert.equal(code, ExitCode.Ok);
  // The timeline sums counts per interval.
  assert.equal(
    merged.timeline.reduce((total, sample) => total + sample.requests, 0),
    merged.requests,
  );
  assert.equal(readdirSync(evidence).length, 1);
  assert.match(readdirSync(evidence)[0]!, /^load-.*-merged\.json$/);
  // A merged summary is a summary: compare accepts it (3 intervals: inconclusive, so exit 0).
  assert.equal(await main(["load", "compare", files[0]!, out]), ExitCode.Ok);
});

test("merge needs two complete summaries with histograms", async () => {
  assert.equal(await main(["load", "merge", files[0]!, "--no-evidence"]), ExitCode.UsageOrConfig);
  const old = join(dir, "old.json");
  const { histograms: _, ...withoutHistograms } = summaries[0]!;
  writeFileSync(old, JSON.stringify(withoutHistograms));
  assert.equal(await main(["load", "merge", files[0]!, old, "--no-evidence"]), ExitCode.UsageOrConfig);
  const corrupt = join(dir, "corrupt.json");
  writeFileSync(
    corrupt,
    JSON.stringify({ ...summaries[0]!, histograms: { latency: "bm90IGhkcg==", serviceTime: "x" } }),
  );
  assert.equal(await main(["load", "merge", files[0]!, corrupt, "--no-evidence"]), ExitCode.UsageOrConfig);
});

test("fuzz: mangled summaries make compare and merge refuse with exit 2, never crash", async () => {
  const original = JSON.parse(readFileSync(files[0]!, "utf8")) as Record<string, unknown>;
  // Every path into the document, to delete or replace one of them at random.
  const paths: string[][] = [];
  const walk = (value: unknown, path: string[]) => {
    if (path.length > 0) paths.push(path);
    if (value && typeof value === "object" && path.length < 4) {
      for (const [key, child] of Object.entries(value).slice(0, 12)) walk(child, [...path, key]);
    }
  };
  walk(original, []);
  const replacements = [undefined, null, "x", -1, [], {}, true];
  const deadline = Date.now() + 3000;
  let runs = 0;
  while (Date.now() < deadline) {
    const copy = structuredClone(original);
    const path = paths[Math.floor(Math.random() * paths.length)]!;
    let parent = copy as Record<string, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
    const replacement = replacements[Math.floor(Math.random() * replacements.length)];
    if (replacement === undefined) delete parent[path.at(-1)!];
    else parent[path.at(-1)!] = replacement;
    const file = join(dir, "mangled.json");
    writeFileSync(file, JSON.stringify(copy));
    const compareCode = await main(["load", "compare", files[1]!, file]);
    assert.ok(
      [0, 1, 2].includes(compareCode),
      `compare exit ${compareCode} after changing ${path.join(".")}`,
    );
    const mergeCode = await main(["load", "merge", files[1]!, file, "--no-evidence"]);
    assert.ok([0, 1, 2].includes(mergeCode), `merge exit ${mergeCode} after changing ${path.join(".")}`);
    runs++;
  }
  assert.ok(runs > 5);
});
