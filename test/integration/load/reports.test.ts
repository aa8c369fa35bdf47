/**
 * --report FILE.md / FILE.html and the evidence copy, through the CLI against a real server.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import type { LoadSummary } from "../../../src/load/report.js";
import { renderReport } from "../../../src/load/report-documents.js";
import { type TargetServer, withTargetAndTempDir } from "./target-server.js";

let target: TargetServer;
let dir: string;

withTargetAndTempDir("bulwark-load-reports-", (started, made) => {
  target = started;
  dir = made;
});

test("Markdown and self-contained HTML reports carry the JSON's figures; evidence has kind, version and times", async () => {
  const out = join(dir, "run.json");
  const md = join(dir, "run.md");
  const htmlFile = join(dir, "run.html");
  const evidence = join(dir, "evidence");
  const code = await main([
    "load",
    `${target.url}/delay/5`,
    "--rate",
    "40",
    "--duration",
    "3s",
    "--threshold",
    "p(95)<500ms over 1s",
    "--report",
    md,
    "--report",
    htmlFile,
    "--out",
    out,
    "--evidence-dir",
    evidence,
  ]);
  assert.equal(code, ExitCode.Ok);
  const summary = JSON.parse(readFileSync(out, "utf8")) as LoadSummary;

  const markdown = readFileSync(md, "utf8");
  assert.match(markdown, /^# Load test: GET http:\/\/127\.0\.0\.1:\d+\/delay\/5\n/);
  assert.ok(markdown.includes(`| ${summary.requests} | ${summary.rps} | 0 |`), markdown);
  assert.ok(markdown.includes(`| corrected (from intended send) | ${summary.latency.p50} |`));
  assert.match(markdown, /\| `p\(95\)<500ms over 1s` \| pass \|/);
  assert.match(markdown, /## Timeline \(1 s intervals\)/);
  assert.equal(
    markdown.split("\n").filter((line) => /^\| \d+(\.\d+)?s \|/.test(line)).length,
    summary.timeline.length,
  );

  const page = readFileSync(htmlFile, "utf8");
  assert.match(page, /^<!doctype html>/);
  // Self-contained: no script, nothing loaded from elsewhere.
  assert.doesNotMatch(page, /<script|<link|\ssrc=|https?:\/\/(?!127\.0\.0\.1|www\.w3\.org\/2000\/svg)/);
  assert.equal((page.match(/<svg /g) ?? []).length, 4, "latency, throughput, errors, generator");
  assert.match(page, /Corrected latency per interval/);
  // Input (here the threshold's "<") is escaped, never markup.
  assert.ok(page.includes("p(95)&lt;500ms over 1s"));
  assert.ok(!page.includes("p(95)<500ms"));
  assert.ok(page.includes(`<td>${summary.requests}</td>`));

  const files = readdirSync(evidence);
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^load-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.json$/);
  const copy = JSON.parse(readFileSync(join(evidence, files[0]!), "utf8")) as LoadSummary;
  assert.equal(copy.kind, "load-summary");
  assert.equal(copy.version, 1);
  assert.equal(copy.startedAt, summary.startedAt);
  assert.ok(Date.parse(copy.finishedAt) >= Date.parse(copy.startedAt));
  assert.deepEqual(copy, summary);
});

test("--html and --markdown write their format whatever the file is called", async () => {
  const htmlFile = join(dir, "report-page");
  const mdFile = join(dir, "report-text");
  const code = await main([
    "load",
    `${target.url}/`,
    "--rate",
    "20",
    "--duration",
    "1s",
    "--html",
    htmlFile,
    "--markdown",
    mdFile,
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.Ok);
  assert.match(readFileSync(htmlFile, "utf8"), /^<!doctype html>/);
  assert.match(readFileSync(mdFile, "utf8"), /^# Load test: GET /);
});

test("a bad report name is a usage error before anything is sent", async () => {
  const before = target.count();
  const code = await main([
    "load",
    `${target.url}/`,
    "--rate",
    "10",
    "--duration",
    "1s",
    "--report",
    join(dir, "report.pdf"),
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.UsageOrConfig);
  assert.equal(target.count(), before);
});

test("a breaking-point search renders its steps in both formats", () => {
  const step = (rate: number, p99: number, sustainable: boolean) => ({
    rate,
    achievedRps: rate,
    requests: rate * 2,
    errors: 0,
    errorRate: 0,
    dropped: 0,
    latency: { p50: 1, p90: 2, p95: 3, p99, max: p99 },
    serviceTime: { p50: 1, p90: 2, p95: 3, p99, max: p99 },
    thresholds: [],
    valid: true,
    sustainable,
    broke: sustainable ? [] : ["p(99)<100ms"],
  });
  const limit = {
    kind: "load-limit" as const,
    version: 1 as const,
    partial: false,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:06.000Z",
    elapsedMs: 6000,
    target: { url: "http://127.0.0.1:1/", method: "GET" },
    search: {
      startRate: 50,
      stepRate: 50,
      maxRate: 400,
      stepDurationMs: 2000,
      connections: 100,
      maxQueue: undefined,
    },
    slo: ["p(99)<100ms"],
    limit: 100,
    breakingRate: 150,
    outcome: "broken" as const,
    steps: [step(50, 5, true), step(100, 8, true), step(150, 400, false)],
    limitRun: null,
  };
  const markdown = renderReport(limit, "md");
  assert.match(markdown, /\*\*limit: 100\/s\*\* \(broken, breaks at 150\/s\)/);
  assert.match(markdown, /\| 150 \| 150 \| 1 \| 3 \| 400 \| 0 \| 0 \| breaks: p\(99\)<100ms \|/);
  const page = renderReport(limit, "html");
  assert.equal((page.match(/<svg /g) ?? []).length, 2);
  assert.match(page, /breaks: p\(99\)&lt;100ms/);
});
