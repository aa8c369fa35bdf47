/**
 * The `backup:` section as part of the main bulwark.yaml (`bulwark config check` validates it,
 * the backup commands read it from the same file as the gateway's settings), and scheduled
 * backup runs written to the audit trail (JSONL store), checked with `bulwark audit verify`.
 * Real PostgreSQL 15, the built CLI.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { finished, runCli, spawnCli } from "../../support/cli.js";
import { freePort } from "../../support/ports.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";

let server: TestPostgres;
let dir: string;
let key: string;
let sourceUrl: string;

const env = { PGPASSWORD: "", DATABASE_URL: "" };

before(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), "bulwark-backup-config-audit-"));
  key = join(dir, "backup.key");
  assert.equal((await runCli(["backup", "keygen", "--out", key])).code, 0);
  sourceUrl = await server.createDatabase("app");
  await server.query("create table t (x int); insert into t select generate_series(1, 100)", [], "app");
  writeFileSync(join(dir, "db-password"), `${server.password}\n`, { mode: 0o600 });
  const audit = await runCli(["audit", "keygen", "--out", join(dir, "audit.key")]);
  assert.equal(audit.code, 0, audit.stderr);
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A whole bulwark.yaml: gateway settings, an audit trail, and a backup section. */
function fullConfig(name: string, backup: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `listeners:
  - address: 127.0.0.1:0
upstreams:
  app:
    targets: [http://127.0.0.1:9]
routes:
  - upstream: app
audit:
  store: { type: jsonl, dir: audit }
  signingKey: audit.key
backup:
${backup}`,
  );
  return file;
}

function noPassword(url: string): string {
  return url.replace(`:${encodeURIComponent(server.password)}@`, "@");
}

describe("backup settings in the main config", () => {
  test("config check accepts a full config with a backup section, and the backup commands read it", async () => {
    const file = fullConfig(
      "full.yaml",
      `  db: ${noPassword(sourceUrl)}
  password: \${file:db-password}
  repo: repo
  keyFile: backup.key
  compression: 1
  retention: { keepLast: 7, keepDaily: 14, maxAge: 30d }
  s3: { region: eu-west-1 }
  drill:
    rto: 4h
    rpo: 24h
    assertions: ["select count(*) = 100 from t"]
`,
    );
    const check = await runCli(["config", "check", "-c", file]);
    assert.equal(check.code, 0, check.stderr);
    const made = await runCli(["backup", "-c", file, "--format", "json"], { env, timeoutMs: 60_000 });
    assert.equal(made.code, 0, made.stderr);
    const listed = await runCli(["backup", "list", "-c", file, "--format", "json"]);
    assert.deepEqual(
      JSON.parse(listed.stdout).backups.map((backup: { id: string }) => backup.id),
      [JSON.parse(made.stdout).id],
    );
  });

  test("bad backup values fail config check and the backup commands with file:line:column", async () => {
    const file = fullConfig(
      "bad.yaml",
      `  repo: repo
  compression: 11
  retention: { keepLast: -1 }
  drill: { rto: soon }
  nonsense: true
`,
    );
    const check = await runCli(["config", "check", "-c", file]);
    assert.equal(check.code, 2, check.stderr);
    assert.match(check.stderr, /bad\.yaml:13:16 backup\.compression:/);
    assert.match(check.stderr, /bad\.yaml:14:26 backup\.retention\.keepLast:/);
    assert.match(check.stderr, /bad\.yaml:15:17 backup\.drill\.rto: expected a duration/);
    assert.match(check.stderr, /bad\.yaml:16:3 backup\.nonsense: unknown key/);
    const list = await runCli(["backup", "list", "-c", file]);
    assert.equal(list.code, 2);
    assert.match(list.stderr, /bad\.yaml:13:16 backup\.compression:/);
  });
});

describe("scheduled runs in the audit trail", () => {
  test("each run is one admin.backup.run record (success with the backup id, failure with the error code); audit verify passes", async () => {
    const file = fullConfig(
      "scheduled.yaml",
      `  password: \${file:db-password}
  repo: scheduled-repo
  keyFile: backup.key
`,
    );
    const good = spawnCli(
      ["backup", "-c", file, "--db", noPassword(sourceUrl), "--schedule", "*/2 * * * * *"],
      {
        env,
      },
    );
    const successIds = () =>
      good
        .output()
        .stdout.split("\n")
        .filter((line) => line.includes('"result":"success"'))
        .map((line) => JSON.parse(line).id as string);
    const deadline = Date.now() + 60_000;
    while (successIds().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    good.kill("SIGTERM");
    const goodExit = await finished(good, 20_000);
    assert.ok(goodExit.code === 0 || goodExit.code === 130, goodExit.stderr);
    const ids = successIds();
    assert.ok(ids.length >= 2, `two scheduled runs: ${good.output().stdout}`);

    // The database unreachable: a failed run, recorded with its error code.
    const closed = await freePort();
    const bad = spawnCli(
      [
        "backup",
        "-c",
        file,
        "--db",
        `postgres://postgres@127.0.0.1:${closed}/app`,
        "--schedule",
        "*/2 * * * * *",
      ],
      { env },
    );
    const failDeadline = Date.now() + 30_000;
    while (!bad.output().stdout.includes('"result":"failure"') && Date.now() < failDeadline)
      await new Promise((r) => setTimeout(r, 200));
    bad.kill("SIGTERM");
    await finished(bad, 20_000);

    const auditDir = join(dir, "audit");
    const query = await runCli([
      "audit",
      "query",
      auditDir,
      "--action",
      "admin.backup.run",
      "--format",
      "json",
    ]);
    assert.equal(query.code, 0, query.stderr);
    const records = JSON.parse(query.stdout) as {
      outcome: string;
      resource: { route: string; id: string | null };
      reason: string | null;
      subject: string | null;
    }[];
    const successes = records.filter((record) => record.outcome === "success");
    // A run that SIGTERM interrupted is a failure record too; every logged success is there.
    assert.deepEqual(
      successes.map((record) => record.resource.id),
      ids,
    );
    assert.ok(records.every((record) => record.resource.route === "backup-schedule"));
    assert.ok(
      records.some((record) => record.outcome === "failure" && record.reason === "backup_db_unreachable"),
      JSON.stringify(records),
    );
    assert.ok(records.every((record) => record.subject === null || record.subject.startsWith("os:")));

    const verify = await runCli(["audit", "verify", auditDir, "--public-key", join(dir, "audit.key.pub")]);
    assert.equal(verify.code, 0, verify.stderr);
    // Two processes, two chains, every record covered by a signed checkpoint.
    assert.equal(verify.stderr.match(/chain \S+: \d+ records?, .*signed through/g)?.length, 2, verify.stderr);
    assert.match(verify.stderr, /result: intact/);
  });
});
