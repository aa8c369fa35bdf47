/**
 * Sliding-window, per-request-name and abortOnFail thresholds against real local servers.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import { buildPlan } from "../../../src/load/plan.js";
import { buildSummary } from "../../../src/load/report.js";
import { runLoad } from "../../../src/load/run.js";
import { type TargetServer, withTargetAndTempDir } from "./target-server.js";

let target: TargetServer;
let dir: string;

withTargetAndTempDir("bulwark-load-thresholds-", (started, made) => {
  target = started;
  dir = made;
});

test("a stall fails the corrected p(90) but not service_p(90): queued requests waited, the target did not", async () => {
  // 100 req/s on one connection for 2 s; request 50 stalls 600 ms, so the ~60 requests due
  // during the stall wait up to 600 ms before they are sent (30 % of the run), each then served
  // at once. service_max still sees the stalled request itself.
  const plan = buildPlan({
    target: `${target.url}/stall/50/600`,
    rate: "100",
    duration: "2s",
    connections: "1",
    thresholds: ["p(90)<100ms", "service_p(90)<100ms", "service_max>=500ms"],
  });
  const summary = buildSummary(plan, await runLoad(plan));
  const [corrected, service, stalled] = summary.thresholds;
  assert.equal(corrected!.ok, false, `corrected p90 ${corrected!.actual}`);
  assert.equal(service!.ok, true, `service p90 ${service!.actual}`);
  assert.equal(stalled!.ok, true, `service max ${stalled!.actual}`);
  assert.equal(service!.actual, summary.serviceTime.p90, "the same figure the summary reports");
});

test("a 1.5 s stall passes a whole-run p(80) but fails the same bar over 1 s windows", async () => {
  // 50 req/s on one connection for 10 s; request 150 (at ~3 s) stalls 1.5 s, so the ~75
  // requests due during the stall wait 1500…20 ms: ~50 of them over 500 ms. That is 10 % of the
  // run, so the whole-run p80 holds (with room for a busy machine's noise), but every request of
  // the 1 s window after the stall began, whose p80 is far above 500 ms.
  const plan = buildPlan({
    target: `${target.url}/stall/150/1500`,
    rate: "50",
    duration: "10s",
    connections: "1",
    thresholds: ["p(80)<500ms", "p(80)<500ms over 1s"],
  });
  const summary = buildSummary(plan, await runLoad(plan));
  const [whole, windowed] = summary.thresholds;
  assert.equal(whole!.ok, true, `whole-run p80 ${whole!.actual}`);
  assert.equal(windowed!.ok, false);
  // The worst window is either one whose p80 is far above the bar, or one in which no request
  // finished at all (the connection was stuck in the stall): no data, which fails and counts as
  // worst (null).
  assert.ok(windowed!.actual === null || windowed!.actual > 700, `worst window p80 ${windowed!.actual}`);
  assert.ok(windowed!.window!.failed >= 1 && windowed!.window!.failed <= 3, JSON.stringify(windowed!.window));
  // The stall starts at ~3 s: the worst window is one that holds it.
  assert.ok(windowed!.window!.worstStartMs >= 2000 && windowed!.window!.worstStartMs <= 4500);
  assert.ok(windowed!.window!.windows >= 9);
});

test("abortOnFail stops the run early with a partial report and exit code 1", async () => {
  const out = join(dir, "abort.json");
  const started = Date.now();
  const code = await main([
    "load",
    `${target.url}/status/503`,
    "--rate",
    "50",
    "--duration",
    "30s",
    "--threshold",
    "error_rate<1% over 1s abortOnFail",
    "--out",
    out,
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.Failed);
  assert.ok(Date.now() - started < 10_000, "stopped long before the 30 s duration");
  const summary = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(summary.partial, true);
  assert.equal(summary.ok, false);
  assert.equal(summary.abortedBy.expression, "error_rate<1% over 1s abortOnFail");
  assert.equal(summary.abortedBy.actual, 1);
  assert.ok(summary.abortedBy.atMs < 5000);
  assert.ok(summary.requests > 0 && summary.requests < 500);
});

test("per-request-name thresholds judge only that name's requests", async () => {
  const file = join(dir, "named.yaml");
  writeFileSync(
    file,
    [
      `target: ${target.url}`,
      "requests:",
      "  - { name: login, path: /delay/150 }",
      "  - { name: home, path: / }",
      "mix: { login: 1, home: 1 }",
      "thresholds:",
      '  - "login: p(50)>=145ms"',
      '  - "home: p(50)<100ms"',
      '  - "login: p(50)<100ms"',
      '  - "home: rps>5 over 1s"',
      "executor: { type: constant-arrival-rate, rate: 40, duration: 2s }",
      "",
    ].join("\n"),
  );
  const plan = buildPlan({ target: file });
  const summary = buildSummary(plan, await runLoad(plan));
  const byExpression = Object.fromEntries(summary.thresholds.map((result) => [result.expression, result]));
  // login always takes ≥ 150 ms, home answers at once: the same bar passes for one name and
  // fails for the other, which it could not if both were judged on all requests.
  assert.equal(byExpression["login: p(50)>=145ms"]!.ok, true, JSON.stringify(byExpression));
  assert.equal(byExpression["home: p(50)<100ms"]!.ok, true, JSON.stringify(byExpression));
  assert.equal(byExpression["login: p(50)<100ms"]!.ok, false);
  assert.equal(byExpression["home: rps>5 over 1s"]!.ok, true);
  assert.equal(summary.thresholds[0]!.scope, "login");
});

test("a threshold naming an unknown request is refused before anything is sent", async () => {
  const before = target.count();
  const code = await main([
    "load",
    `${target.url}/`,
    "--rate",
    "10",
    "--duration",
    "1s",
    "--threshold",
    "login: p(95)<1s",
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.UsageOrConfig);
  assert.equal(target.count(), before);
  const file = join(dir, "unknown.yaml");
  writeFileSync(
    file,
    `target: ${target.url}\nrequests:\n  - { name: a, path: / }\nthresholds: ["b: p(95)<1s"]\n`,
  );
  assert.throws(
    () => buildPlan({ target: file, rate: "1", duration: "1s" }),
    (error: { details?: readonly string[] }) =>
      /unknown\.yaml:4:\d+ thresholds\[0\]: no request named b/.test(error.details?.join("\n") ?? ""),
  );
});
