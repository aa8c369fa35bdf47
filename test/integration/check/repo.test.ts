/**
 * `bulwark check repo` end to end through the built CLI: planted secrets (made at test time),
 * container and lockfile fixtures with exact expected findings, output formats, exit codes,
 * waivers, git history, bad input, and the project's scan of itself.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fakeSecrets } from "../../fixtures/check/fake-secrets.js";
import { runCli } from "../../support/cli.js";

const FIXTURES = "test/fixtures/check";
interface JsonReport {
  kind: string;
  score: number;
  grade: string;
  findings: { id: string; severity: string; location: string; evidence: string; title: string }[];
  waived: { id: string; location: string }[];
  warnings: string[];
  stats: Record<string, number>;
}

async function checkJson(args: string[], timeoutMs = 60_000) {
  const result = await runCli(["check", "repo", ...args, "--format", "json", "--no-evidence"], { timeoutMs });
  assert.ok(result.stdout.length > 0, `no JSON on stdout (exit ${result.code}): ${result.stderr}`);
  return { ...result, report: JSON.parse(result.stdout) as JsonReport };
}

const pairs = (report: JsonReport) => report.findings.map((item) => `${item.id} ${item.location}`).sort();

function write(root: string, path: string, content: string | Buffer) {
  mkdirSync(join(root, path, ".."), { recursive: true });
  writeFileSync(join(root, path), content);
}

describe("bulwark check repo", () => {
  let dir: string;
  const secrets = fakeSecrets();
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-check-repo-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("finds planted secrets and config smells, with exact ids and locations, never printing a secret", async () => {
    const root = join(dir, "secrets");
    write(
      root,
      "src/aws.js",
      `export const id = "${secrets.awsAccessKey}";\nexport const secret = { aws_secret_access_key: "${secrets.awsSecretKey}" };\n`,
    );
    write(
      root,
      "src/ci.ts",
      `// tokens\nconst gh = "${secrets.githubToken}";\nconst gl = "${secrets.gitlabToken}";\n`,
    );
    write(
      root,
      "config/chat.yaml",
      `slack:\n  token: ${secrets.slackToken}\n  webhook: ${secrets.slackWebhook}\n`,
    );
    write(root, "billing/stripe.py", `STRIPE = "${secrets.stripeKey}"\n`);
    write(root, "keys/service-account.json", secrets.gcpKeyJson);
    write(root, "deploy/tls.pem", secrets.privateKeyPem);
    write(
      root,
      "src/session.js",
      `const fixture = "${secrets.jwt}";\nconst ignored = "${secrets.githubToken}"; // bulwark:ignore fixture\n`,
    );
    write(
      root,
      "src/db.ts",
      `const url = "postgres://app:${secrets.dbPassword}@db.internal:5432/app?sslmode=disable";\n`,
    );
    write(root, ".env", `APP_DEBUG=true\nAPI_SECRET=${secrets.genericSecret}\n`);
    write(root, ".env.example", "API_SECRET=\n");
    write(root, "src/server.js", "app.use(cors());\n");
    write(root, "app/settings.py", "DEBUG = True\n");
    write(root, "README.md", "Set sslmode=disable only locally. Example key: AKIAIOSFODNN7EXAMPLE\n");

    const { code, report, stderr } = await checkJson([root]);
    assert.equal(code, 1, "critical findings fail the default --fail-on high");
    assert.deepEqual(pairs(report), [
      "config-cors-wildcard src/server.js:1",
      "config-debug-enabled .env:1",
      "config-debug-enabled app/settings.py:1",
      "config-env-file-committed .env",
      "config-tls-disabled src/db.ts:1",
      "secret-aws-access-key src/aws.js:1",
      "secret-aws-secret-key src/aws.js:2",
      "secret-connection-string src/db.ts:1",
      "secret-gcp-service-account keys/service-account.json:2",
      "secret-generic .env:2",
      "secret-github-token src/ci.ts:2",
      "secret-gitlab-token src/ci.ts:3",
      "secret-jwt src/session.js:1",
      "secret-private-key deploy/tls.pem:1",
      "secret-private-key keys/service-account.json:5",
      "secret-slack-token config/chat.yaml:2",
      "secret-slack-webhook config/chat.yaml:3",
      "secret-stripe-key billing/stripe.py:1",
    ]);
    assert.equal(report.grade, "F");
    const everything = JSON.stringify(report) + stderr;
    for (const [name, value] of Object.entries(secrets)) {
      const probe = name === "privateKeyPem" || name === "gcpKeyJson" ? value.split("\n")[2]! : value;
      assert.ok(!everything.includes(probe), `${name} leaked into the report`);
    }
  });

  it("Dockerfile and compose rules on the container fixture, the hardened ones clean", async () => {
    const { report } = await checkJson([`${FIXTURES}/repo-containers`]);
    assert.deepEqual(pairs(report), [
      "compose-caps-not-dropped docker-compose.yml:2",
      "compose-docker-socket docker-compose.yml:6",
      "compose-host-network docker-compose.yml:5",
      "compose-no-resource-limits docker-compose.yml:2",
      "compose-privileged docker-compose.yml:4",
      "compose-writable-rootfs docker-compose.yml:2",
      "docker-add-url Dockerfile:5",
      "docker-base-latest Dockerfile:2",
      "docker-no-healthcheck Dockerfile:2",
      "docker-secret-in-env Dockerfile:3",
      "docker-secret-in-env Dockerfile:4",
      "docker-user-root Dockerfile:2",
    ]);
    const env = report.findings.find((item) => item.location === "Dockerfile:4")!;
    assert.ok(!env.evidence.includes("not-a-real-secret-but-still-wrong"));
  });

  it("vulnerable dependencies from every lockfile format against the offline OSV directory", async () => {
    const { code, report } = await checkJson([`${FIXTURES}/repo-deps`, "--advisories", `${FIXTURES}/osv`]);
    assert.equal(code, 1);
    const deps = report.findings
      .map((item) => `${item.severity} ${item.location} ${item.evidence.split(" — ")[1]}`)
      .sort();
    assert.deepEqual(deps, [
      "critical package-lock.json:18 GHSA-xvch-5gv4-984h / CVE-2021-44906; fixed in 0.2.4, 1.2.6",
      "high Gemfile.lock:4 GHSA-pxvg-2qj5-37jq / CVE-2022-23476; fixed in 1.13.10",
      "high go.sum:1 GO-2023-2102 / CVE-2023-39325; fixed in 0.17.0",
      "high package-lock.json:15 GHSA-35jh-r3h4-6jhm / CVE-2021-23337; fixed in 4.17.21",
      "high py/poetry.lock:1 GHSA-v845-jxx5-vc9f / CVE-2023-43804; fixed in 1.26.17",
      "high yarn.lock:5 GHSA-r683-j2x4-v87g / CVE-2022-0235; fixed in 2.6.7, 3.1.1",
      "medium Cargo.lock:4 RUSTSEC-2020-0071 / CVE-2020-26235 / GHSA-wcg3-cvx6-7396; fixed in 0.2.23",
      "medium pnpm-lock.yaml:11 GHSA-wf5p-g6vw-rhxx / CVE-2023-45857; fixed in 0.28.0, 1.6.0",
      "medium py/requirements.txt:2 GHSA-j8r2-6x86-q33q / CVE-2023-32681; fixed in 2.31.0",
    ]);
    assert.ok(report.findings.every((item) => item.id === "dep-vulnerable"));
    assert.equal(report.stats.lockfiles, 8);
    const without = await checkJson([`${FIXTURES}/repo-deps`]);
    assert.deepEqual(without.report.findings, []);
    assert.match(
      without.report.warnings.join("\n"),
      /8 lockfile\(s\) found but neither --advisories DIR nor --npm-audit given/,
    );
  });

  it("bad input becomes warnings: binary, huge and malformed files, symlink loops, bad advisories", async () => {
    const root = join(dir, "bad");
    write(
      root,
      "image.bin",
      Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(`ghp_${"A1".repeat(18)}`)]),
    );
    write(root, "big.txt", Buffer.alloc(2 * 1024 * 1024 + 10, 97));
    write(root, "package-lock.json", '{"lockfileVersion": 3, "packages": {');
    write(root, "docker-compose.yml", "services:\n  web: [unclosed\n");
    write(root, "Dockerfile", "\u0000\u0001garbage");
    write(root, "sub/Dockerfile", "FRM node\nUSR app\n");
    symlinkSync("loop-b", join(root, "loop-a"));
    symlinkSync("loop-a", join(root, "loop-b"));
    symlinkSync("/etc", join(root, "outside"));
    const advisories = join(dir, "bad-osv");
    write(advisories, "broken.json", "{ not json");
    write(advisories, "no-id.json", '{"affected": []}');
    const { code, report } = await checkJson([root, "--max-file-size", "2", "--advisories", advisories]);
    assert.equal(code, 0);
    assert.deepEqual(pairs(report), []);
    const warnings = report.warnings.join("\n");
    assert.match(warnings, /symlink loop at loop-a; not followed/);
    assert.match(warnings, /1 file\(s\) larger than 2 MiB not scanned: big\.txt/);
    assert.match(warnings, /package-lock\.json: malformed lockfile, dependencies not checked/);
    assert.match(warnings, /docker-compose\.yml: not valid YAML/);
    assert.match(warnings, /sub\/Dockerfile: no FROM instruction/);
    assert.match(warnings, /advisory broken\.json skipped/);
    assert.match(warnings, /advisory no-id\.json skipped: not an OSV record/);
    assert.equal(report.stats.binaryFiles, 2);
    assert.equal(report.stats.symlinksSkipped, 3);
  });

  it("formats, --out, --fail-on and usage errors", async () => {
    const target = `${FIXTURES}/repo-containers`;
    const out = join(dir, "out", "report.sarif");
    const sarif = await runCli(["check", "repo", target, "--format", "sarif", "--out", out, "--no-evidence"]);
    assert.equal(sarif.code, 1);
    assert.equal(sarif.stdout, "");
    const parsed = JSON.parse(readFileSync(out, "utf8"));
    assert.equal(parsed.version, "2.1.0");
    assert.equal(parsed.runs[0].results.length, 12);
    assert.match(sarif.stderr, /grade F/);
    assert.equal((await runCli(["check", "repo", `${target}/hardened`, "--no-evidence"])).code, 0);
    const html = await runCli([
      "check",
      "repo",
      target,
      "--format",
      "html",
      "--fail-on",
      "none",
      "--no-evidence",
    ]);
    assert.equal(html.code, 0);
    assert.match(html.stdout, /^<!doctype html>/);
    const junit = await runCli([
      "check",
      "repo",
      target,
      "--format",
      "junit",
      "--fail-on",
      "critical",
      "--no-evidence",
    ]);
    assert.equal(junit.code, 1);
    assert.match(junit.stdout, /failures="2"/);
    const evidenceDir = join(dir, "evidence");
    const withEvidence = await runCli(["check", "repo", `${target}/hardened`, "--evidence-dir", evidenceDir]);
    const [file] = readdirSync(evidenceDir);
    assert.match(file!, /^check-repo-\d{4}-\d{2}-\d{2}T[\d-]+Z\.json$/);
    assert.equal(JSON.parse(readFileSync(join(evidenceDir, file!), "utf8")).kind, "bulwark.check");
    assert.match(withEvidence.stderr, /evidence {2}/);
    const unwritable = await runCli([
      "check",
      "repo",
      `${target}/hardened`,
      "--out",
      "/proc/bulwark-nope/r.json",
      "--no-evidence",
    ]);
    assert.equal(unwritable.code, 3);
    assert.match(unwritable.stderr, /cannot write \/proc\/bulwark-nope\/r\.json/);
    const md = await runCli(["check", "repo", target, "--format", "markdown", "--no-evidence"]);
    assert.match(md.stdout, /^# bulwark check/);
    const text = await runCli(["check", "repo", target, "--no-evidence"]);
    assert.match(text.stderr, /^\ngrade F {2}score/);
    assert.ok(!text.stderr.includes("\u001b["), "no colour when stderr is not a TTY");
    for (const [args, message] of [
      [["check", "nonsense"], /unknown check "nonsense": expected url, repo or readiness/],
      [["check", "repo"], /give the repository directory/],
      [["check", "repo", target, "--format", "xml"], /--format expects one of/],
      [["check", "repo", target, "--fail-on", "info"], /--fail-on expects/],
      [["check", "repo", join(dir, "missing")], /does not exist/],
      [["check", "repo", target, "--rate", "5"], /--rate applies to `bulwark check url` only/],
      [["check", "url", "ftp://x"], /unsupported scheme/],
    ] as const) {
      const result = await runCli([...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.ok(!/\n\s+at /.test(result.stderr), "no stack trace");
    }
  });

  it("waivers accept findings until they expire, then they fail again", async () => {
    const target = `${FIXTURES}/repo-containers`;
    const waivers = join(dir, "waivers.yaml");
    const all = [
      "compose-privileged",
      "compose-docker-socket",
      "compose-host-network",
      "docker-user-root",
      "docker-secret-in-env",
    ];
    writeFileSync(
      waivers,
      `waivers:\n${all.map((id) => `  - { id: ${id}, reason: accepted for the demo, expires: 2999-12-31 }`).join("\n")}\n`,
    );
    const active = await checkJson([target, "--waivers", waivers]);
    assert.equal(active.code, 0, "only medium and lower remain");
    assert.equal(active.report.waived.length, 6);
    writeFileSync(
      waivers,
      "waivers:\n  - id: compose-privileged\n    location: docker-compose.yml:*\n    reason: old\n    expires: 2020-01-01\n",
    );
    const expired = await checkJson([target, "--waivers", waivers]);
    assert.equal(expired.code, 1);
    assert.equal(expired.report.waived.length, 0);
    assert.match(
      expired.report.warnings.join("\n"),
      /waiver for compose-privileged at docker-compose\.yml:\* expired on 2020-01-01/,
    );
    writeFileSync(waivers, "waivers:\n  - id: no-such-id\n");
    const invalid = await runCli(["check", "repo", target, "--waivers", waivers]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /invalid waiver file/);
  });

  it("the allow-list skips paths and accepts known secret values; a bad one is a usage error", async () => {
    const root = join(dir, "allowed");
    write(root, "docs/example.env", `API_SECRET=${secrets.genericSecret}\n`);
    write(root, "src/ok.js", `const key = "${secrets.stripeKey}";\n`);
    write(root, "src/leak.js", `const gh = "${secrets.githubToken}";\n`);
    write(
      root,
      ".bulwark-check-allow.yaml",
      `paths: ["docs/**"]\nsecrets: ["${secrets.stripeKey.slice(-10)}$"]\n`,
    );
    const { report } = await checkJson([root]);
    assert.deepEqual(pairs(report), ["secret-github-token src/leak.js:1"]);
    const other = join(dir, "allow-other.yaml");
    writeFileSync(other, "secrets: ['(unclosed']\n");
    const bad = await runCli(["check", "repo", root, "--allowlist", other, "--no-evidence"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid allow-list/);
    assert.match(bad.stderr, /is not a regular expression/);
  });

  it("--history finds a secret that was committed and later removed", async () => {
    const root = join(dir, "history");
    mkdirSync(root);
    const git = (...args: string[]) => {
      const result = spawnSync("git", [
        "-C",
        root,
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "user.name=t",
        ...args,
      ]);
      assert.equal(result.status, 0, result.stderr.toString());
      return result.stdout.toString().trim();
    };
    git("init", "-q");
    write(root, "config.js", `// settings\nconst token = "${secrets.githubToken}";\n`);
    git("add", ".");
    git("commit", "-q", "-m", "add config");
    const sha = git("rev-parse", "HEAD").slice(0, 12);
    write(root, "config.js", "// settings\nconst token = process.env.GH_TOKEN;\n");
    git("commit", "-q", "-am", "remove the token");
    const now = await checkJson([root]);
    assert.deepEqual(pairs(now.report), []);
    const history = await checkJson([root, "--history"]);
    assert.deepEqual(pairs(history.report), [`secret-github-token config.js:2@${sha}`]);
    assert.equal(history.report.stats.commits, 2);
    assert.ok(!JSON.stringify(history.report).includes(secrets.githubToken));
    const notGit = await checkJson([`${FIXTURES}/repo-deps`, "--history"]);
    assert.match(notGit.report.warnings.join("\n"), /not a git repository; --history skipped/);
  });

  it("the project's own repository, history included, has no critical finding", async () => {
    const { report } = await checkJson([".", "--history"], 120_000);
    const critical = report.findings.filter((item) => item.severity === "critical");
    assert.deepEqual(critical, []);
    assert.ok((report.stats.files ?? 0) > 100);
    assert.ok((report.stats.commits ?? 0) > 0, "history was read");
  });
});
