import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { buildChecklist } from "../../../src/check/readiness/checklist.js";
import { loadReadinessSection } from "../../../src/check/readiness/config-section.js";
import type { CheckRecord, EvidenceRecord } from "../../../src/check/readiness/evidence.js";
import { renderReadiness } from "../../../src/check/readiness/render.js";
import { withOverrides } from "../../../src/check/readiness/run-configured.js";
import { readinessSchema } from "../../../src/check/readiness/schema.js";
import { ConfigError } from "../../../src/config/config-error.js";
import { readConfigDocument } from "../../../src/config/section.js";
import { isBulwarkError } from "../../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-readiness-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string, name = "bulwark.yaml") {
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadReadinessSection(readConfigDocument(file), {});
}

describe("readiness section", () => {
  mkdirSync(join(dir, "repo"), { recursive: true });
  mkdirSync(join(dir, "osv"), { recursive: true });

  it("has documented defaults and resolves paths against the config file's directory", () => {
    assert.deepEqual(readinessSchema.parse({}), {
      urls: [],
      repos: [],
      failOn: "high",
      evidenceDir: ".bulwark/evidence",
      writeEvidence: true,
      maxAgeDays: 30,
      strict: false,
      notApplicable: [],
      items: [],
      gatewayConfig: true,
    });
    const config = load(
      "readiness:\n  urls:\n    - url: https://app.example/\n      timeout: 2s\n  repos:\n    - path: repo\n      advisories: osv\n      maxFileSize: 2mb\n",
    )!;
    assert.equal(config.evidenceDir, join(dir, ".bulwark/evidence"));
    assert.equal(config.urls[0]!.timeout, 2000);
    assert.equal(config.urls[0]!.rate, 10);
    assert.equal(config.repos[0]!.path, join(dir, "repo"));
    assert.equal(config.repos[0]!.advisories, join(dir, "osv"));
    assert.equal(config.repos[0]!.maxFileSize, 2 * 1024 * 1024);
    assert.equal(config.repos[0]!.npmAudit, false);
    assert.equal(config.repos[0]!.npmRegistry, "https://registry.npmjs.org/");
    assert.equal(load("listeners: []\n"), undefined, "no section");
  });

  it("reports every problem with file:line:column and key path", () => {
    const text = [
      "readiness:",
      "  urls:",
      "    - url: not a url",
      "      burst: 301",
      "      timeout: 50ms",
      "  repos:",
      "    - path: repo",
      "      npmRegistry: ftp://r",
      "  maxAgeDays: 0",
      "  strict: yes please",
      "  notApplicable:",
      "    - { item: drill-rpo-typo, reason: no database }",
      "",
    ].join("\n");
    try {
      load(text, "bad.yaml");
      assert.fail("expected a ConfigError");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      const got = error.problems.map(
        (problem) => `${problem.where.replace(/^.*bad\.yaml/, "bad.yaml")} ${problem.path}`,
      );
      assert.deepEqual(
        got.sort(),
        [
          "bad.yaml:10:11 readiness.strict",
          "bad.yaml:3:12 readiness.urls[0].url",
          "bad.yaml:4:14 readiness.urls[0].burst",
          "bad.yaml:5:16 readiness.urls[0].timeout",
          "bad.yaml:8:20 readiness.repos[0].npmRegistry",
          "bad.yaml:9:15 readiness.maxAgeDays",
          "bad.yaml:12:15 readiness.notApplicable[0].item",
        ].sort(),
      );
    }
  });

  it("flags override the section for every target of their kind; unset flags keep it", () => {
    const config = readinessSchema.parse({
      urls: [{ url: "https://a.example/" }, { url: "https://b.example/", rate: 3 }],
      repos: [{ path: "/r", history: true }],
    });
    const merged = withOverrides(config, {
      url: { probeRateLimit: true, rate: undefined },
      repo: { advisories: "/osv" },
      strict: true,
      failOn: undefined,
    });
    assert.deepEqual(
      merged.urls.map((target) => [target.url, target.rate, target.probeRateLimit]),
      [
        ["https://a.example/", 10, true],
        ["https://b.example/", 3, true],
      ],
    );
    assert.equal(merged.repos[0]!.advisories, "/osv");
    assert.equal(merged.repos[0]!.history, true);
    assert.equal(merged.strict, true);
    assert.equal(merged.failOn, "high");
  });

  it("fuzz: mutated sections give config errors, never a crash", () => {
    const valid = [
      "readiness:",
      "  urls:",
      "    - url: https://app.example/",
      "      rate: 5",
      "      probeRateLimit: true",
      "  repos:",
      "    - path: repo",
      "      history: true",
      "      maxFileSize: 1mb",
      "  failOn: medium",
      "  evidenceDir: ev",
      "",
    ].join("\n");
    const pieces = [
      "",
      ":",
      "-",
      " ",
      "\n",
      "[",
      "{",
      "}",
      '"',
      "'",
      "&a",
      "*a",
      "!!binary",
      "0",
      "-1",
      "1e999",
      "~",
      "\t",
      "#",
      "${env:X}",
    ];
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const deadline = Date.now() + 3000;
    let runs = 0;
    while (Date.now() < deadline) {
      let text = valid;
      for (let edits = 1 + random(4); edits > 0; edits -= 1) {
        const at = random(text.length + 1);
        const cut = random(4);
        text = text.slice(0, at) + pieces[random(pieces.length)]! + text.slice(at + cut);
      }
      try {
        load(text, "fuzz.yaml");
      } catch (error) {
        assert.ok(isBulwarkError(error), `not a BulwarkError for ${JSON.stringify(text)}: ${String(error)}`);
      }
      runs += 1;
    }
    assert.ok(runs > 10, `${runs} runs (a floor, not a speed test)`);
  });
});

const record = (
  value: string,
  findings: { id: string; severity: string; category: string }[],
  strengths: string[] = [],
  grade = "A",
): EvidenceRecord<CheckRecord> => ({
  file: `check-${value}.json`,
  startedAt: "2030-01-01T00:00:00Z",
  data: {
    kind: "bulwark.check",
    target: { type: "url", value },
    grade,
    score: 90,
    findings: findings.map((item) => ({
      ...item,
      title: `${item.id} title`,
      evidence: "seen",
      location: `${value}x`,
      remediation: "fix it",
    })) as unknown as CheckRecord["findings"],
    strengths: strengths.map((id) => ({ id })),
    stats: {},
  },
});

describe("readiness checklist over several configured URLs", () => {
  const report = buildChecklist(
    { warnings: [], files: 0 },
    {
      evidenceDir: "ev",
      maxAgeDays: 30,
      now: new Date("2030-01-02T00:00:00Z"),
      current: [
        record("https://a/", [], ["bonus-rate-limited"], "A+"),
        record(
          "https://b/",
          [{ id: "ops-metrics-public", severity: "medium", category: "operations" }],
          [],
          "B",
        ),
      ],
    },
  );
  const item = (id: string) => report.items.find((entry) => entry.id === id)!;

  it("an item fails when any configured target fails it, naming that target's record", () => {
    assert.equal(item("url-metrics-private").status, "fail");
    assert.match(item("url-metrics-private").evidence, /check-https:\/\/b\/\.json/);
    assert.doesNotMatch(item("url-metrics-private").evidence, /check-https:\/\/a\//);
    assert.equal(item("url-health").status, "pass");
    assert.match(item("url-health").evidence, /check-https:\/\/a\/\.json.*check-https:\/\/b\/\.json/);
  });

  it("rate limiting is verified only when every target was probed", () => {
    assert.equal(item("url-rate-limited").status, "not verified");
    assert.match(
      item("url-rate-limited").evidence,
      /check-https:\/\/b\/\.json .*ran without --probe-rate-limit/,
    );
  });

  it("the worst check grade caps readiness, and every item has a stable id", () => {
    assert.equal(report.grade, "F", "a low percentage");
    assert.deepEqual(
      report.checks.map((check) => check.grade),
      ["A+", "B"],
    );
    assert.equal(new Set(report.items.map((entry) => entry.id)).size, report.items.length);
  });

  it("items declared not applicable leave the percentage and GO, and a hidden failure is named", () => {
    const base = {
      evidenceDir: "ev",
      maxAgeDays: 30,
      now: new Date("2030-01-02T00:00:00Z"),
      current: [
        record("https://a/", [], ["bonus-rate-limited"], "A+"),
        record(
          "https://b/",
          [{ id: "ops-metrics-public", severity: "medium", category: "operations" }],
          [],
          "B",
        ),
      ],
    };
    const declared = buildChecklist(
      { warnings: [], files: 0 },
      {
        ...base,
        notApplicable: [
          { item: "drill-succeeded", reason: "stateless service, no database" },
          { item: "url-metrics-private", reason: "metrics are public on purpose" },
        ],
      },
    );
    const drill = declared.items.find((entry) => entry.id === "drill-succeeded")!;
    assert.equal(drill.status, "not applicable");
    assert.equal(drill.evidence, "declared not applicable: stateless service, no database");
    const counted = declared.items.filter((entry) => entry.status !== "not applicable");
    assert.equal(counted.length, report.items.length - 2);
    assert.equal(
      declared.percent,
      Math.round((100 * counted.filter((entry) => entry.status === "pass").length) / counted.length),
    );
    assert.match(
      declared.warnings.join("\n"),
      /url-metrics-private is declared not applicable but would fail: /,
    );
    assert.match(
      renderReadiness(declared, "text", { failOn: "high", strict: false }),
      /n\/a {10}restore drill succeeded/,
    );
    assert.match(
      renderReadiness(declared, "junit", { failOn: "high", strict: true }),
      /<skipped message="not applicable: declared/,
    );
  });

  it("renders in every format", () => {
    const sarif = JSON.parse(renderReadiness(report, "sarif", { failOn: "high", strict: false })) as {
      runs: { results: { ruleId: string }[]; tool: { driver: { rules: { id: string }[] } } }[];
    };
    const ruleIds = sarif.runs[0]!.tool.driver.rules.map((rule) => rule.id);
    assert.deepEqual(
      sarif.runs[0]!.results.map((result) => result.ruleId),
      ["ops-metrics-public", "readiness/url-metrics-private"],
    );
    assert.deepEqual(ruleIds, ["ops-metrics-public", "readiness/url-metrics-private"]);
    const junit = renderReadiness(report, "junit", { failOn: "medium", strict: true });
    assert.match(
      junit,
      /<testsuite name="readiness checklist" tests="\d+" failures="(\d+)" errors="0" skipped="0">/,
    );
    const failures = Number(/failures="(\d+)" errors="0" skipped="0">/.exec(junit)![1]);
    assert.equal(
      failures,
      report.items.filter((entry) => entry.status !== "pass").length,
      "strict: not verified fails",
    );
    assert.match(junit, /<testsuite name="operations" tests="1" failures="1"/);
    assert.match(
      renderReadiness(report, "markdown", { failOn: "high", strict: false }),
      /\| observability \| metrics not public \| \*\*fail\*\* \|/,
    );
    assert.match(renderReadiness(report, "html", { failOn: "high", strict: false }), /<h2>Checklist<\/h2>/);
    const text = renderReadiness(report, "text", { failOn: "high", strict: false });
    assert.match(text, /checks:\n {2}url https:\/\/a\/ {2}grade A\+/);
    assert.match(text, /medium {3}ops-metrics-public {2}ops-metrics-public title {2}https:\/\/b\/x/);
    assert.equal(
      JSON.parse(renderReadiness(report, "json", { failOn: "high", strict: false })).kind,
      "bulwark.readiness",
    );
  });
});
