import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { buildChecklist } from "../../../src/check/readiness/checklist.js";
import { readEvidence } from "../../../src/check/readiness/evidence.js";

const NOW = new Date("2030-06-15T12:00:00Z");
const dir = mkdtempSync(join(tmpdir(), "bulwark-readiness-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function record(name: string, value: object) {
  writeFileSync(join(dir, name), JSON.stringify(value));
}

const check = (type: "url" | "repo", startedAt: string, findings: object[], extra: object = {}) => ({
  kind: "bulwark.check",
  version: 1,
  target: { type, value: type === "url" ? "https://app.example" : "." },
  startedAt,
  grade: findings.some((f) => (f as { severity: string }).severity === "critical") ? "F" : "A+",
  score: 100,
  findings,
  strengths: [],
  stats: {},
  ...extra,
});

describe("readiness checklist", () => {
  record(
    "check-url-old.json",
    check("url", "2030-06-01T00:00:00Z", [
      { id: "tls-not-used", severity: "high", category: "transport", location: "x" },
    ]),
  );
  record(
    "check-url-new.json",
    check(
      "url",
      "2030-06-14T00:00:00Z",
      [{ id: "hdr-coep-missing", severity: "info", category: "headers", location: "x" }],
      { strengths: [{ id: "bonus-rate-limited" }] },
    ),
  );
  record(
    "check-repo.json",
    check(
      "repo",
      "2030-06-14T00:00:00Z",
      [{ id: "secret-github-token", severity: "critical", category: "secrets", location: "a.js:1" }],
      { stats: { advisories: 10 } },
    ),
  );
  record("load-1.json", {
    kind: "load-summary",
    version: 1,
    startedAt: "2030-06-14T01:00:00Z",
    ok: true,
    valid: true,
    partial: false,
    thresholds: [{}],
    requests: 600,
    target: { url: "x" },
  });
  record("drill-1.json", {
    kind: "drill",
    version: 1,
    startedAt: "2029-01-01T00:00:00Z",
    ok: true,
    rto: { met: true, measuredMs: 1 },
    rpo: { met: true, measuredMs: 1 },
    failures: [],
  });
  writeFileSync(join(dir, "broken.json"), "{");
  writeFileSync(join(dir, "notes.json"), '{"hello": 1}');

  const report = buildChecklist(readEvidence(dir), { evidenceDir: dir, maxAgeDays: 30, now: NOW });
  const status = (title: string) => report.items.find((item) => item.title === title)?.status;

  it("uses the newest record of each kind and marks items pass, fail or not verified", () => {
    assert.equal(status("live service: no critical or high finding"), "pass", "the newer url check wins");
    assert.equal(status("HTTPS only: redirect from HTTP and HSTS"), "pass");
    assert.equal(status("rate limiting observed"), "pass");
    assert.equal(status("no secrets in the repository"), "fail");
    assert.equal(status("no dependency with a critical or high advisory"), "pass");
    assert.equal(status("load test met its thresholds"), "pass");
    assert.equal(status("restore drill succeeded"), "not verified", "older than --max-age");
    assert.match(report.warnings.join("\n"), /restore drill evidence .*drill-1\.json is \d+ days old/);
    assert.match(report.warnings.join("\n"), /broken\.json skipped/);
    assert.match(report.warnings.join("\n"), /notes\.json skipped: not an evidence record/);
  });

  it("a critical finding caps the readiness grade at F; go only when everything passes", () => {
    assert.equal(report.grade, "F");
    assert.equal(report.go, false);
    const passes = report.items.filter((item) => item.status === "pass").length;
    assert.equal(report.percent, Math.round((100 * passes) / report.items.length));
  });
});
