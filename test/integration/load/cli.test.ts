/**
 * `bulwark load` through the CLI: thresholds and exit codes, a refused target, usage errors, the
 * --out JSON document and the evidence copy, and Ctrl-C writing a partial summary. Exit codes are
 * checked in-process through main() (fast) and, for signals and stderr text, with the built
 * command as users run it (npm test builds dist/ first).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import { finished, runCli, spawnCli, waitForOutput } from "../../support/cli.js";
import { refusedUrl, type TargetServer, withTargetAndTempDir } from "./target-server.js";

let target: TargetServer;
let dir: string;

withTargetAndTempDir("bulwark-load-", (started, made) => {
  target = started;
  dir = made;
});

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

test("a passing threshold exits 0 and a failing one exits 1, marked in the summary", async () => {
  const passOut = join(dir, "pass.json");
  const passCode = await main([
    "load",
    `${target.url}/delay/5`,
    "--rate",
    "50",
    "--duration",
    "1s",
    "--threshold",
    "p(95)<500ms",
    "--threshold",
    "dropped==0",
    "--out",
    passOut,
    "--no-evidence",
  ]);
  assert.equal(passCode, ExitCode.Ok);
  const pass = readJson(passOut);
  assert.equal(pass.ok, true);
  assert.deepEqual(
    (pass.thresholds as { ok: boolean }[]).map((threshold) => threshold.ok),
    [true, true],
  );

  const failOut = join(dir, "fail.json");
  const failCode = await main([
    "load",
    `${target.url}/delay/20`,
    "--rate",
    "50",
    "--duration",
    "1s",
    "--threshold",
    "p(50)<5ms",
    "--threshold",
    "rps>10",
    "--out",
    failOut,
    "--no-evidence",
  ]);
  assert.equal(failCode, ExitCode.Failed);
  const fail = readJson(failOut);
  assert.equal(fail.ok, false);
  const results = fail.thresholds as { expression: string; ok: boolean; actual: number }[];
  assert.equal(results[0]!.expression, "p(50)<5ms");
  assert.equal(results[0]!.ok, false);
  assert.ok(results[0]!.actual >= 19);
  assert.equal(results[1]!.ok, true);
});

test("a refused target counts connect errors by class without crashing; thresholds decide the exit", async () => {
  const out = join(dir, "refused.json");
  const code = await main([
    "load",
    await refusedUrl(),
    "--rate",
    "50",
    "--duration",
    "1s",
    "--threshold",
    "error_rate<0.1%",
    "--out",
    out,
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.Failed);
  const summary = readJson(out);
  const byClass = summary.errorsByClass as Record<string, number>;
  assert.ok(byClass.connect! >= 45, `connect ${byClass.connect}`);
  assert.equal(summary.errors, byClass.connect);
  assert.equal(summary.requests, summary.errors);
  assert.equal(summary.errorRate, 1);
  assert.deepEqual(summary.statusCodes, {});
  // no response, so no latency sample: null, not a flattering 0
  assert.equal((summary.latency as Record<string, unknown>).p99, null);
});

test("5xx answers count as http errors; 4xx are counted apart", async () => {
  const out = join(dir, "status.json");
  const code = await main([
    "load",
    `${target.url}/status/503`,
    "--vus",
    "2",
    "--duration",
    "500ms",
    "--out",
    out,
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.Ok, "no thresholds, so the run itself succeeded");
  const summary = readJson(out);
  assert.equal((summary.errorsByClass as Record<string, number>).http, summary.requests);
  assert.equal((summary.statusCodes as Record<string, number>)["503"], summary.requests);

  const out404 = join(dir, "status404.json");
  await main([
    "load",
    `${target.url}/status/404`,
    "--vus",
    "1",
    "--duration",
    "300ms",
    "--out",
    out404,
    "--no-evidence",
  ]);
  const notFound = readJson(out404);
  assert.equal(notFound.errors, 0);
  assert.equal(notFound.clientErrors, notFound.requests);
});

test("usage errors exit 2 and say what is wrong", async () => {
  const url = `${target.url}/`;
  assert.equal(await main(["load", url, "--rate", "10"]), ExitCode.UsageOrConfig);
  assert.equal(await main(["load", url, "--rate", "10", "--duration", "soon"]), ExitCode.UsageOrConfig);
  assert.equal(await main(["load", "not a url", "--rate", "10", "--duration", "1s"]), ExitCode.UsageOrConfig);
  assert.equal(
    await main(["load", "ftp://127.0.0.1/", "--rate", "10", "--duration", "1s"]),
    ExitCode.UsageOrConfig,
  );
  assert.equal(await main(["load", url, "--duration", "1s"]), ExitCode.UsageOrConfig);
  assert.equal(
    await main(["load", url, "--rate", "10", "--duration", "1s", "--threshold", "p(95)<fast"]),
    ExitCode.UsageOrConfig,
  );

  const noDuration = await runCli(["load", url, "--rate", "10"], { timeoutMs: 10_000 });
  assert.equal(noDuration.code, ExitCode.UsageOrConfig);
  assert.match(noDuration.stderr, /give --duration/);
  const badThreshold = await runCli(
    ["load", url, "--rate", "10", "--duration", "1s", "--threshold", "p95<1s"],
    {
      timeoutMs: 10_000,
    },
  );
  assert.equal(badThreshold.code, ExitCode.UsageOrConfig);
  assert.match(badThreshold.stderr, /invalid threshold "p95<1s"/);
  const badUrl = await runCli(["load", "http//nope", "--rate", "10", "--duration", "1s"], {
    timeoutMs: 10_000,
  });
  assert.equal(badUrl.code, ExitCode.UsageOrConfig);
  assert.match(badUrl.stderr, /invalid target URL "http\/\/nope"/);
});

test("--out writes the complete load-summary document, and a copy goes to .bulwark/evidence", async () => {
  const cwd = mkdtempSync(join(dir, "cwd-"));
  const result = await runCli(
    [
      "load",
      `${target.url}/delay/2`,
      "--rate",
      "40",
      "--duration",
      "1500ms",
      "--method",
      "POST",
      "--header",
      "X-Test: yes",
      "--body",
      "hello",
      "--threshold",
      "p(99)<1s",
      "--out",
      "summary.json",
    ],
    { cwd, timeoutMs: 15_000 },
  );
  assert.equal(result.code, ExitCode.Ok, result.stderr);
  // not a TTY: plain progress lines once a second
  assert.match(result.stderr, /1s\/2s {2}rate [\d.]+\/s {2}p99 [\d.]+ms {2}errors 0 {2}dropped 0/);
  assert.match(result.stderr, /latency +p50 [\d.]+ms {2}p90/);
  const summary = readJson(join(cwd, "summary.json"));
  for (const field of [
    "kind",
    "version",
    "partial",
    "startedAt",
    "finishedAt",
    "target",
    "executor",
    "requests",
    "rps",
    "errors",
    "dropped",
    "latency",
    "serviceTime",
    "statusCodes",
    "errorsByClass",
    "thresholds",
  ]) {
    assert.ok(field in summary, `missing ${field}`);
  }
  assert.equal(summary.kind, "load-summary");
  assert.equal(summary.version, 1);
  assert.equal(summary.partial, false);
  assert.deepEqual(summary.target, { url: `${target.url}/delay/2`, method: "POST" });
  assert.equal((summary.executor as { kind: string }).kind, "constant-arrival-rate");
  for (const key of ["p50", "p90", "p95", "p99", "max"]) {
    assert.equal(typeof (summary.latency as Record<string, unknown>)[key], "number");
    assert.equal(typeof (summary.serviceTime as Record<string, unknown>)[key], "number");
  }
  assert.ok(Date.parse(summary.finishedAt as string) > Date.parse(summary.startedAt as string));
  assert.deepEqual(summary.thresholds, [
    { expression: "p(99)<1s", ok: true, actual: (summary.thresholds as { actual: number }[])[0]!.actual },
  ]);
  const evidence = readdirSync(join(cwd, ".bulwark", "evidence"));
  assert.equal(evidence.length, 1);
  assert.match(evidence[0]!, /^load-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.json$/);
  assert.deepEqual(readJson(join(cwd, ".bulwark", "evidence", evidence[0]!)), summary);
  // atomic write leaves no temp file behind
  assert.deepEqual(
    readdirSync(cwd).filter((name) => name.endsWith(".tmp")),
    [],
  );
});

test("Ctrl-C stops the run and still writes a summary marked partial", async () => {
  const out = join(dir, "partial.json");
  const child = spawnCli([
    "load",
    `${target.url}/delay/5`,
    "--rate",
    "50",
    "--duration",
    "30s",
    "--out",
    out,
    "--evidence-dir",
    join(dir, "evidence"),
  ]);
  await waitForOutput(child, /rate [\d.]+\/s/, 10_000);
  child.kill("SIGINT");
  const result = await finished(child, 10_000);
  assert.equal(result.code, ExitCode.Interrupted, result.stderr);
  assert.match(result.stderr, /PARTIAL/);
  assert.ok(existsSync(out));
  const summary = readJson(out);
  assert.equal(summary.partial, true);
  assert.ok((summary.requests as number) >= 40, `requests ${summary.requests}`);
  assert.ok((summary.elapsedMs as number) < 10_000);
});

test("requests undici would refuse are failed as class other without hanging the run", async () => {
  // A header value with a line break on the command line is a usage error, before anything is sent.
  const before = target.count();
  assert.equal(
    await main([
      "load",
      `${target.url}/`,
      "--vus",
      "1",
      "--duration",
      "1s",
      "--header",
      "X-Bad: a\r\nInjected: b",
    ]),
    ExitCode.UsageOrConfig,
  );
  assert.equal(target.count(), before);
  // From a data file it only shows at run time. undici would refuse it synchronously, and its
  // Pool then stops dispatching the requests queued behind it; Bulwark fails such a request
  // itself (class other), on the next turn of the event loop, so timers and Ctrl-C keep working.
  writeFileSync(join(dir, "bad-rows.json"), JSON.stringify([{ v: "a\r\nInjected: b" }, { v: "fine" }]));
  const file = join(dir, "bad-rows.yaml");
  writeFileSync(
    file,
    `target: ${target.url}\ndata: { file: bad-rows.json }\nrequests:\n  - { name: h, path: /, headers: { X-V: "\${data.v}" } }\nexecutor: { type: constant-vus, vus: 2, duration: 2s }\n`,
  );
  const out = join(dir, "bad-rows-summary.json");
  const started = Date.now();
  assert.equal(await main(["load", file, "--out", out, "--no-evidence"]), ExitCode.Ok);
  assert.ok(Date.now() - started < 10_000);
  const summary = readJson(out) as {
    requests: number;
    errorsByClass: Record<string, number>;
    statusCodes: Record<string, number>;
    timeline: unknown[];
  };
  assert.ok(summary.errorsByClass.other! > 0);
  assert.ok(summary.statusCodes["200"]! > 0, "the good rows were sent");
  assert.equal(summary.errorsByClass.other! + summary.statusCodes["200"]!, summary.requests);
  assert.ok(summary.timeline.length >= 2, `intervals ${summary.timeline.length}`);
});
