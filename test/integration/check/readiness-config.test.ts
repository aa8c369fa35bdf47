/**
 * `bulwark check` driven by bulwark.yaml's `readiness:` section: it runs the configured URL check
 * (a deliberately careless local app) and repository check (the dependency fixture with the OSV
 * fixture), judges the gateway config in the same file, writes evidence where the section says,
 * and prints one report in every format. Bad sections fail with file:line:column errors, and
 * `bulwark config check` accepts the section.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { finished, runCli, spawnCli } from "../../support/cli.js";
import { type LeakyApp, startLeakyApp } from "./leaky-app.js";

const FIXTURES = resolve("test/fixtures/check");

interface Readiness {
  percent: number;
  grade: string;
  go: boolean;
  config?: string;
  partial: boolean;
  items: { id: string; area: string; title: string; status: string; evidence: string }[];
  checks: {
    type: string;
    target: string;
    source: string;
    grade: string;
    findings: { id: string; severity: string; location: string; title: string }[];
  }[];
  warnings: string[];
}

describe("bulwark check with a readiness section", () => {
  let dir: string;
  let app: LeakyApp;
  let config: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-readiness-config-"));
    app = await startLeakyApp();
    config = join(dir, "bulwark.yaml");
    // Paths in the section are relative to the config file's directory.
    writeFileSync(
      config,
      `listeners:
  - address: "127.0.0.1:8080"
upstreams:
  app: { targets: ["http://127.0.0.1:3000"] }
routes:
  - upstream: app
readiness:
  urls:
    - url: ${app.url}/
      rate: 50
      timeout: 5s
  repos:
    - path: ${JSON.stringify(join(FIXTURES, "repo-deps"))}
      advisories: ${JSON.stringify(join(FIXTURES, "osv"))}
  evidenceDir: evidence
  failOn: critical
`,
    );
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = (report: Readiness, id: string) => report.items.find((item) => item.id === id)?.status;

  it("runs the configured checks, flags override the file, and the checklist judges them", async () => {
    const before = app.requests;
    // The file does not probe the rate limit; the flag turns it on for every configured URL.
    const result = await runCli(
      ["check", "-c", config, "--format", "json", "--probe-rate-limit", "--burst", "20"],
      {
        timeoutMs: 120_000,
      },
    );
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as Readiness;
    assert.ok(app.requests > before, "the URL check ran against the local app");

    assert.deepEqual(
      report.checks.map((check) => check.type),
      ["url", "repo"],
    );
    const url = report.checks[0]!;
    const repo = report.checks[1]!;
    assert.equal(url.target, `${app.url}/`);
    const urlIds = new Set(url.findings.map((item) => item.id));
    for (const id of [
      "app-reflected-input",
      "ops-metrics-public",
      "ops-no-rate-limit",
      "tls-not-used",
      "disc-actuator",
    ])
      assert.ok(urlIds.has(id), `url finding ${id}; got ${[...urlIds].join(", ")}`);
    assert.equal(url.grade, "F");
    const lodash = repo.findings.find(
      (item) => item.id === "dep-vulnerable" && item.title.startsWith("lodash@4.17.20"),
    );
    assert.ok(lodash, `lodash advisory; got ${repo.findings.map((item) => item.title).join("; ")}`);
    assert.match(lodash.location, /^package-lock\.json:\d+$/);

    assert.equal(status(report, "url-no-severe"), "fail");
    assert.equal(status(report, "url-metrics-private"), "fail");
    assert.equal(status(report, "url-rate-limited"), "fail", "the burst flag made the 429 probe run");
    assert.equal(status(report, "url-https-only"), "fail");
    assert.equal(status(report, "repo-dependencies"), "fail");
    assert.equal(status(report, "repo-containers"), "pass");
    assert.equal(status(report, "config-valid"), "pass");
    assert.equal(status(report, "config-https"), "fail", "the gateway has no TLS listener");
    assert.equal(status(report, "config-rate-limits"), "fail");
    assert.equal(status(report, "load-thresholds"), "not verified");
    assert.equal(status(report, "drill-succeeded"), "not verified");
    assert.equal(report.grade, "F", "the URL check's F caps readiness");
    assert.equal(report.go, false);
    assert.equal(report.partial, false);

    // Evidence went to the section's folder, relative to the config file.
    const evidence = readdirSync(join(dir, "evidence")).sort();
    assert.equal(evidence.length, 2, evidence.join(", "));
    assert.match(evidence[0]!, /^check-repo-.*\.json$/);
    assert.match(evidence[1]!, /^check-url-.*\.json$/);
    assert.equal(url.source, join(dir, "evidence", evidence[1]!));
    assert.match(result.stderr, /check url http:\/\/127\.0\.0\.1:\d+\/: grade F/);
  });

  it("--no-run judges the evidence written before, in every format", async () => {
    const before = app.requests;
    const outputs: Record<string, string> = {};
    for (const format of ["sarif", "junit", "markdown", "html", "text"]) {
      const out = join(dir, `readiness.${format}`);
      const result = await runCli([
        "check",
        "readiness",
        "-c",
        config,
        "--no-run",
        "--format",
        format,
        "--out",
        out,
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /readiness \d+% {2}grade F {2}NO-GO/);
      outputs[format] = readFileSync(out, "utf8");
    }
    assert.equal(app.requests, before, "--no-run sends no request");

    const sarif = JSON.parse(outputs.sarif!) as {
      version: string;
      runs: {
        results: {
          ruleId: string;
          locations: { physicalLocation: { artifactLocation: { uri: string } } }[];
        }[];
      }[];
    };
    assert.equal(sarif.version, "2.1.0");
    const results = sarif.runs[0]!.results;
    const dep = results.find((item) => item.ruleId === "dep-vulnerable");
    assert.ok(dep);
    assert.match(dep.locations[0]!.physicalLocation.artifactLocation.uri, /repo-deps\/package-lock\.json$/);
    assert.ok(results.some((item) => item.ruleId === "readiness/config-https"));
    assert.ok(results.some((item) => item.ruleId === "app-reflected-input"));

    assert.match(outputs.junit!, /<testsuite name="readiness checklist" tests="\d+" failures="[1-9]\d*"/);
    assert.match(
      outputs.junit!,
      /<testcase classname="bulwark\.readiness\.deployment" name="config-https [^"]*"><failure/,
    );
    assert.match(outputs.junit!, /<skipped message="not verified: /);
    assert.match(outputs.markdown!, /^# bulwark readiness/);
    assert.match(
      outputs.markdown!,
      /\| deployment \| HTTPS configured on a gateway listener \| \*\*fail\*\* \|/,
    );
    assert.match(outputs.html!, /<p class="grade" id="grade">F<\/p>/);
    assert.ok(!/<script|src=/.test(outputs.html!), "self-contained HTML");
    assert.match(outputs.text!, /FAIL {9}rate limits configured/);

    const misuse = await runCli(["check", "-c", config, "--no-run", "--probe-rate-limit"]);
    assert.equal(misuse.code, 2);
    assert.match(misuse.stderr, /--probe-rate-limit does not apply with --no-run/);
  });

  it("bulwark check reads ./bulwark.yaml; a file with only a readiness section has no gateway to judge", async () => {
    const only = mkdtempSync(join(tmpdir(), "bulwark-readiness-only-"));
    try {
      writeFileSync(
        join(only, "bulwark.yaml"),
        `readiness:\n  repos:\n    - path: ${JSON.stringify(join(FIXTURES, "repo-containers", "hardened"))}\n  writeEvidence: false\n  notApplicable:\n    - { item: drill-succeeded, reason: nothing to restore }\n`,
      );
      const result = await runCli(["check", "--format", "json"], { cwd: only });
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as Readiness;
      assert.equal(report.config, "bulwark.yaml");
      assert.equal(report.checks.length, 1);
      assert.equal(report.checks[0]!.source, "(this run)");
      assert.equal(status(report, "repo-containers"), "pass");
      assert.equal(status(report, "repo-dependencies"), "not verified");
      assert.equal(status(report, "drill-succeeded"), "not applicable");
      const configItem = report.items.find((item) => item.id === "config-valid")!;
      assert.equal(configItem.status, "not verified");
      assert.match(configItem.evidence, /has no gateway config/);
      assert.deepEqual(readdirSync(only), ["bulwark.yaml"], "writeEvidence: false writes nothing");

      const strict = await runCli(["check", "--strict"], { cwd: only });
      assert.equal(strict.code, 1, "not verified items fail with --strict");
    } finally {
      rmSync(only, { recursive: true, force: true });
    }
  });

  it("failOn fails the run on a configured check's findings even when no item fails", async () => {
    const file = join(dir, "fail-on.yaml");
    writeFileSync(
      file,
      `readiness:\n  repos:\n    - path: ${JSON.stringify(join(FIXTURES, "repo-deps"))}\n      advisories: ${JSON.stringify(join(FIXTURES, "osv"))}\n  writeEvidence: false\n  notApplicable:\n    - { item: repo-dependencies, reason: accepted for this test }\n`,
    );
    const strictRun = await runCli(["check", "-c", file, "--format", "json"]);
    assert.equal(strictRun.code, 1, strictRun.stderr);
    const report = JSON.parse(strictRun.stdout) as Readiness;
    assert.deepEqual(
      report.items.filter((item) => item.status === "fail"),
      [],
    );
    assert.match(strictRun.stderr, /fail-on {3}check repo .*repo-deps has findings at or above high/);
    assert.match(report.warnings.join("\n"), /repo-dependencies is declared not applicable but would fail/);
    const lenient = await runCli(["check", "-c", file, "--fail-on", "none"]);
    assert.equal(lenient.code, 0, lenient.stderr);
  });

  it("a bad section is refused with file:line:column problems, before anything runs", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      [
        "readiness:",
        "  urls:",
        "    - url: ftp://example.com/",
        "      rate: 500",
        "  repos:",
        "    - path: .",
        "      maxFileSize: 10tb",
        "  fail_on: high",
        "",
      ].join("\n"),
    );
    const result = await runCli(["check", "-c", bad]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /bad\.yaml:3:\d+ readiness\.urls\[0\]\.url: expected an http:\/\/ or https:\/\/ URL/,
    );
    assert.match(result.stderr, /bad\.yaml:4:\d+ readiness\.urls\[0\]\.rate: /);
    assert.match(result.stderr, /bad\.yaml:7:\d+ readiness\.repos\[0\]\.maxFileSize: /);
    assert.match(result.stderr, /bad\.yaml:8:\d+ readiness\.fail_on: unknown key/);
    assert.ok(!/\n\s+at /.test(result.stderr), "no stack trace");

    const missing = join(dir, "missing.yaml");
    writeFileSync(missing, "readiness:\n  repos:\n    - path: no-such-dir\n  waivers: nope.yaml\n");
    const paths = await runCli(["check", "-c", missing]);
    assert.equal(paths.code, 2, paths.stderr);
    assert.match(
      paths.stderr,
      /missing\.yaml:3:\d+ readiness\.repos\[0\]\.path: directory .*no-such-dir does not exist/,
    );
    assert.match(paths.stderr, /missing\.yaml:4:\d+ readiness\.waivers: file .*nope\.yaml does not exist/);
  });

  it("Ctrl-C stops the configured check in progress, skips the rest, and reports partial (exit 130)", async () => {
    let seen = 0;
    const slow = createServer((_req, res) => {
      seen += 1;
      res.setHeader("content-type", "text/html");
      res.end("<html>ok</html>");
    });
    await new Promise<void>((done) => slow.listen(0, "127.0.0.1", done));
    const file = join(dir, "interrupt.yaml");
    writeFileSync(
      file,
      `readiness:\n  urls:\n    - url: http://127.0.0.1:${(slow.address() as AddressInfo).port}/\n      rate: 1\n  repos:\n    - path: ${JSON.stringify(join(FIXTURES, "repo-containers"))}\n  evidenceDir: interrupted\n`,
    );
    try {
      const child = spawnCli(["check", "-c", file, "--format", "json"]);
      const deadline = Date.now() + 20_000;
      while (seen < 2 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50));
      child.kill("SIGINT");
      const result = await finished(child, 20_000);
      assert.equal(result.code, 130, result.stderr);
      const report = JSON.parse(result.stdout) as Readiness;
      assert.equal(report.partial, true);
      assert.deepEqual(
        report.checks,
        [],
        "an interrupted check verifies nothing; the repository check did not start",
      );
      assert.match(report.warnings.join("\n"), /interrupted: check repo .*repo-containers not run/);
      assert.match(
        report.warnings.join("\n"),
        /check url http:\/\/127\.0\.0\.1:\d+\/ was interrupted .*verifies nothing/,
      );
      assert.equal(status(report, "url-health"), "not verified");
      assert.ok(seen < 10, `${seen} requests`);
      const written = JSON.parse(
        readFileSync(join(dir, "interrupted", readdirSync(join(dir, "interrupted"))[0]!), "utf8"),
      ) as { partial: boolean };
      assert.equal(written.partial, true, "the evidence record says it is partial");
    } finally {
      await new Promise((done) => slow.close(done));
    }
  });

  it("the team's own items pass only on their evidence: a file that exists, a URL that answers 2xx", async () => {
    const site = createServer((req, res) => {
      if (req.url === "/runbook") return void res.end("runbook");
      if (req.url === "/moved") {
        res.writeHead(302, { location: "/runbook" });
        return void res.end();
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((done) => site.listen(0, "127.0.0.1", done));
    const base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    const teamDir = mkdtempSync(join(dir, "team-"));
    writeFileSync(join(teamDir, "oncall.md"), "# On call\n\nalice, bob\n");
    writeFileSync(join(teamDir, "empty.md"), "");
    const file = join(teamDir, "bulwark.yaml");
    writeFileSync(
      file,
      `readiness:
  evidenceDir: evidence
  items:
    - { id: oncall-rota, title: an on-call rota exists, area: observability, evidence: { file: oncall.md } }
    - { id: pager-test, title: paging was tested, area: observability, evidence: { file: paging-test.md } }
    - { id: sla-doc, title: SLA signed, evidence: { file: empty.md } }
    - { id: runbook, title: runbook published, area: disaster recovery, evidence: { url: "${base}/runbook" } }
    - { id: status-page, title: status page up, evidence: { url: "${base}/moved" } }
    - { id: postmortems, title: postmortem template, evidence: { url: "${base}/missing" } }
`,
    );
    try {
      const result = await runCli(["check", "-c", file, "--format", "json"], { timeoutMs: 60_000 });
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(result.stdout) as Readiness;
      const team = (id: string) => report.items.find((item) => item.id === id)!;
      assert.equal(team("oncall-rota").status, "pass");
      assert.match(team("oncall-rota").evidence, /oncall\.md \(\d+ bytes, modified \d{4}-\d{2}-\d{2}\)/);
      assert.equal(team("pager-test").status, "fail");
      assert.match(team("pager-test").evidence, /paging-test\.md does not exist/);
      assert.equal(team("sla-doc").status, "fail");
      assert.match(team("sla-doc").evidence, /empty\.md is empty/);
      assert.equal(team("runbook").status, "pass");
      assert.match(team("runbook").evidence, /answered 200/);
      assert.equal(team("status-page").status, "fail");
      assert.match(team("status-page").evidence, /answered 302 \(to \/runbook; give the final URL\)/);
      assert.match(team("postmortems").evidence, /answered 404/);
      // Listed with their area, after its built-in items.
      const areas = report.items.map((item) => item.area);
      assert.deepEqual(
        areas.filter((area, index) => area !== areas[index - 1]),
        [...new Set(areas)],
        "every area in one block",
      );
      assert.equal(report.items.at(-1)!.id, "pager-test", "observability is the last area");

      const offline = await runCli(["check", "-c", file, "--format", "json", "--no-run"], {
        timeoutMs: 60_000,
      });
      const judged = JSON.parse(offline.stdout) as Readiness;
      assert.equal(judged.items.find((item) => item.id === "runbook")!.status, "not verified");
      assert.equal(judged.items.find((item) => item.id === "oncall-rota")!.status, "pass");

      const bad = join(teamDir, "bad-items.yaml");
      writeFileSync(
        bad,
        [
          "readiness:",
          "  items:",
          "    - { id: url-tls, title: mine, evidence: { file: a } }",
          "    - { id: Mine!, title: x, evidence: {} }",
          "    - { id: twice, title: once, evidence: { file: a, url: 'https://x.example/' } }",
          "    - { id: twice, title: again, evidence: { file: b } }",
          "",
        ].join("\n"),
      );
      const refused = await runCli(["check", "-c", bad]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(
        refused.stderr,
        /bad-items\.yaml:3:\d+ readiness\.items\[0\]\.id: is the id of a built-in item/,
      );
      assert.match(refused.stderr, /bad-items\.yaml:4:\d+ readiness\.items\[1\]\.id: expected a short id/);
      assert.match(refused.stderr, /bad-items\.yaml:4:\d+ readiness\.items\[1\]\.title: /);
      assert.match(refused.stderr, /readiness\.items\[1\]\.evidence: give one of file or url/);
      assert.match(refused.stderr, /readiness\.items\[2\]\.evidence: give one of file or url/);
      assert.match(
        refused.stderr,
        /bad-items\.yaml:6:\d+ readiness\.items\[3\]\.id: twice is used by another item/,
      );
    } finally {
      await new Promise((done) => site.close(done));
    }
  });

  it("bulwark config check accepts a file with the section and rejects a bad one", async () => {
    const ok = await runCli(["config", "check", "-c", config]);
    assert.equal(ok.code, 0, ok.stderr);
    const bad = join(dir, "bad-config.yaml");
    writeFileSync(
      bad,
      `${readFileSync(config, "utf8").split("readiness:")[0]}readiness:\n  urls:\n    - url: https://x.example/\n      burst: 0\n`,
    );
    const result = await runCli(["config", "check", "-c", bad]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad-config\.yaml:\d+:\d+ readiness\.urls\[0\]\.burst: /);
  });
});
