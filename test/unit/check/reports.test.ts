import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { finding } from "../../../src/check/findings.js";
import { buildReport, failsAt } from "../../../src/check/report.js";
import { render } from "../../../src/check/reports/render.js";

const findings = [
  finding("docker-user-root", { evidence: "no USER instruction", location: "Dockerfile:1" }),
  finding("secret-github-token", {
    evidence: 'token = "ghp_************abcd" <script>',
    location: "src/a.js:12",
  }),
  finding("dep-vulnerable", {
    evidence: "npm x 1.0.0 — GHSA-1",
    location: "package-lock.json:40@0123456789ab",
    severity: "medium",
  }),
  finding("hdr-xcto-missing", { evidence: "none", location: "README" }),
];
const report = buildReport(
  { type: "repo", value: "." },
  { findings, strengths: [], warnings: ["a & b"], stats: { files: 3 } },
  { startedAt: new Date("2030-01-01T00:00:00Z"), finishedAt: new Date("2030-01-01T00:00:02Z") },
);
const opts = { colour: false, failOn: "high" as const };

describe("reports", () => {
  it("JSON carries kind, version, times, score, grade and findings with the documented fields", () => {
    const json = JSON.parse(render(report, "json", opts));
    assert.equal(json.kind, "bulwark.check");
    assert.equal(json.version, 1);
    assert.equal(json.startedAt, "2030-01-01T00:00:00.000Z");
    assert.equal(json.finishedAt, "2030-01-01T00:00:02.000Z");
    assert.equal(json.grade, "F");
    assert.equal(json.score, 100 - 40 - 20 - 10 - 3);
    assert.deepEqual(json.counts, { critical: 1, high: 1, medium: 1, low: 1, info: 0 });
    for (const item of json.findings)
      for (const key of ["id", "severity", "title", "evidence", "location"]) assert.ok(key in item);
    assert.equal(json.findings[0].id, "secret-github-token", "worst first");
  });

  it("SARIF 2.1.0 with rules, levels, security-severity and repository locations", () => {
    const sarif = JSON.parse(render(report, "sarif", opts));
    assert.equal(sarif.version, "2.1.0");
    const run = sarif.runs[0];
    const ruleIds = run.tool.driver.rules.map((rule: { id: string }) => rule.id);
    assert.equal(new Set(ruleIds).size, ruleIds.length);
    assert.equal(run.results.length, 4);
    for (const result of run.results) {
      assert.equal(ruleIds[result.ruleIndex], result.ruleId);
      assert.ok(["error", "warning", "note"].includes(result.level));
      assert.ok(result.message.text.length > 0);
      assert.match(result.partialFingerprints["bulwarkFinding/v1"], /^[0-9a-f]{64}$/);
    }
    const secret = run.results.find((result: { ruleId: string }) => result.ruleId === "secret-github-token");
    assert.deepEqual(secret.locations[0].physicalLocation, {
      artifactLocation: { uri: "src/a.js", uriBaseId: "%SRCROOT%" },
      region: { startLine: 12 },
    });
    const dep = run.results.find((result: { ruleId: string }) => result.ruleId === "dep-vulnerable");
    assert.equal(dep.locations[0].physicalLocation.region.startLine, 40);
    const rule = run.tool.driver.rules.find((item: { id: string }) => item.id === "secret-github-token");
    assert.equal(rule.properties["security-severity"], "9.5");
    assert.ok(rule.properties.tags.includes("external/cwe/cwe-798"));
  });

  it("JUnit marks findings at or above --fail-on as failures and escapes XML", () => {
    const xml = render(report, "junit", opts);
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>/);
    assert.match(xml, /<testsuites [^>]*failures="2"/);
    assert.ok(!xml.includes("<script>"));
    assert.match(xml, /&lt;script&gt;/);
    const none = render(report, "junit", { colour: false, failOn: "none" });
    assert.match(none, /<testsuites [^>]*failures="0"/);
  });

  it("HTML is self-contained, escaped, with charts", () => {
    const html = render(report, "html", opts);
    assert.match(html, /<svg /);
    assert.ok(!/<script|\bsrc=|\bhref=|@import/i.test(html));
    assert.match(html, /&lt;script&gt;/);
    assert.match(html, /id="grade">F</);
  });

  it("Markdown and terminal reports put the summary first; no colour unless asked", () => {
    const md = render(report, "markdown", opts);
    assert.match(md.split("\n")[2]!, /\*\*Grade F\*\*/);
    assert.match(md, /\| high \| `docker-user-root` \|/);
    const text = render(report, "text", opts);
    assert.ok(!text.includes("\u001b["));
    const lines = text.trim().split("\n");
    assert.match(lines[0]!, /^grade F {2}score 27\/100/);
    assert.match(lines[1]!, /^findings: 1 critical, 1 high, 1 medium, 1 low, 0 info/);
    assert.ok(render(report, "text", { colour: true, failOn: "high" }).includes("\u001b["));
  });

  it("--fail-on compares by severity", () => {
    assert.equal(failsAt(report, "critical"), true);
    const mild = buildReport(
      { type: "repo", value: "." },
      { findings: [findings[3]!], strengths: [], warnings: [], stats: {} },
      {
        startedAt: new Date(),
        finishedAt: new Date(),
      },
    );
    assert.equal(failsAt(mild, "medium"), false);
    assert.equal(failsAt(mild, "low"), true);
    assert.equal(failsAt(mild, "none"), false);
  });
});
