/**
 * The backup cycle through the built CLI against a real PostgreSQL 15: keygen, backup, list,
 * show, restore (refusing a non-empty target, --clean), drill (passing, failing an assertion,
 * missing an objective), prune. The password reaches pg_dump only through its environment.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../../support/cli.js";
import type { TestPostgres } from "../../support/postgres.js";
import { type BackupFixture, runBulwark, startBackupFixture } from "./fixture.js";

let fx: BackupFixture;
let pg: TestPostgres;
let dir: string;
let key: string;
let repo: string;
let sourceUrl: string;

const SEED = `
  create table users (id serial primary key, name text not null, born date, score float8, tags text[], data bytea, meta jsonb);
  insert into users (name, born, score, tags, data, meta)
    select 'user ' || g, date '1990-01-01' + g, g / 7.0, array['a', 'b' || g], decode(md5(g::text), 'hex'), jsonb_build_object('n', g)
    from generate_series(1, 2000) g;
  create schema billing;
  create table billing.invoices (id bigint primary key, user_id int references users(id), total numeric(12, 2), at timestamptz);
  insert into billing.invoices select g, 1 + g % 2000, g * 1.25, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
    from generate_series(1, 5000) g;
  create table empty_table (id int);
  -- point and json have no hash function: their columns are hashed through their text form.
  create table shapes (id int, at point, doc json);
  insert into shapes select g, point(g, -g), json_build_object('g', g) from generate_series(1, 50) g;
  -- every type with its own hash function, NULLs, a domain, an array and an enum.
  create domain positive as int check (value > 0);
  create type mood as enum ('ok', 'meh');
  create table "Types $c" (i2 int2, ok bool, f4 float4, v varchar(20), c char(5), id uuid, ts timestamp,
    d date, p positive, a int[], m mood, "$s" text);
  insert into "Types $c" select g::int2, g % 2 = 0, g / 3.0, 'v' || g, 'c' || g, md5(g::text)::uuid,
    timestamp '2026-01-01' + g * interval '1 hour', date '2026-01-01' + g, g, array[g, g + 1], 'meh', null
    from generate_series(1, 30) g;
  insert into "Types $c" default values;
`;

const run = (args: string[], timeoutMs?: number) => runBulwark(args, { timeoutMs });

before(async () => {
  // No key yet: the first test makes it with `bulwark backup keygen`.
  fx = await startBackupFixture({ prefix: "bulwark-backup-", seed: SEED, keygen: false });
  ({ server: pg, dir, key, repo, sourceUrl } = fx);
});

after(() => fx?.close());

const list = (repository = repo) => fx.list({ repo: repository });

describe("backup, restore and drill", () => {
  let backupId: string;

  test("keygen creates a key; backup writes an encrypted artifact and a manifest with per-table stats", async () => {
    const created = await run(["backup", "keygen", "--out", key]);
    assert.equal(created.code, 0, created.stderr);
    // A config file gives the password by reference; the URL on the command line has none.
    const passwordFile = join(dir, "db-password");
    writeFileSync(passwordFile, `${pg.password}\n`, { mode: 0o600 });
    const config = join(dir, "bulwark.yaml");
    writeFileSync(config, `backup:\n  password: \${file:db-password}\n  repo: repo\n  keyFile: backup.key\n`);
    const noPassword = sourceUrl.replace(`:${encodeURIComponent(pg.password)}@`, "@");
    assert.notEqual(noPassword, sourceUrl);
    const result = await run(["backup", "-c", config, "--db", noPassword, "--format", "json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(
      !result.stderr.includes(pg.password) && !result.stdout.includes(pg.password),
      "password printed",
    );
    const manifest = JSON.parse(result.stdout);
    backupId = manifest.id;
    assert.match(backupId, /^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    assert.equal(manifest.database, "app");
    assert.match(manifest.serverVersion, /^15\./);
    assert.deepEqual(
      manifest.tables.map((table: { schema: string; name: string; rows: number; method: string }) => [
        `${table.schema}.${table.name}`,
        table.rows,
        table.method,
      ]),
      [
        ["billing.invoices", 5000, "columns"],
        ["public.Types $c", 31, "columns"],
        ["public.empty_table", 0, "columns"],
        ["public.shapes", 50, "columns"],
        ["public.users", 2000, "columns"],
      ],
    );
    const files = readdirSync(join(repo, backupId)).sort();
    assert.deepEqual(files, ["dump.bwenc", "manifest.json"]);
    const artifact = readFileSync(join(repo, backupId, "dump.bwenc"));
    assert.equal(artifact.subarray(0, 4).toString(), "BWBK");
    assert.equal(artifact.length, manifest.artifacts[0].size);
    // Encrypted: neither pg_dump's magic nor table data is visible.
    assert.ok(!artifact.includes(Buffer.from("PGDMP")) && !artifact.includes(Buffer.from("user 1999")));
    const listed = await list();
    assert.deepEqual(
      listed.backups.map((backup) => backup.id),
      [backupId],
    );
    const shown = await run(["backup", "show", backupId, "--repo", repo]);
    assert.equal(shown.code, 0);
    assert.match(shown.stderr, /public\.users\s+2000 rows/);
  });

  test("list and show with --key-file check each manifest's MAC: ok, INVALID after an edit, other key", async () => {
    const listed = await run(["backup", "list", "--repo", repo, "--key-file", key, "--format", "json"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      JSON.parse(listed.stdout).backups.map((backup: { macCheck: string }) => backup.macCheck),
      ["ok"],
    );
    const otherKey = join(dir, "other.key");
    assert.equal((await run(["backup", "keygen", "--out", otherKey])).code, 0);
    const other = await run(["backup", "show", backupId, "--repo", repo, "--key-file", otherKey]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stderr, /mac {9}other key/);

    // Someone edits a row count in the manifest: the MAC no longer matches.
    const file = join(repo, backupId, "manifest.json");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, original.replace('"rows": 2000', '"rows": 2001'));
    try {
      const tampered = await run(["backup", "list", "--repo", repo, "--key-file", key]);
      assert.equal(tampered.code, 1, tampered.stderr);
      assert.match(tampered.stderr, new RegExp(`${backupId} .*INVALID`));
      assert.match(tampered.stderr, /INVALID {3}the manifest of .* failed authentication/);
      const shown = await run([
        "backup",
        "show",
        backupId,
        "--repo",
        repo,
        "--key-file",
        key,
        "--format",
        "json",
      ]);
      assert.equal(shown.code, 1);
      assert.equal(JSON.parse(shown.stdout).macCheck, "invalid");
      // Without a key nothing is checked (and nothing fails).
      assert.equal((await run(["backup", "list", "--repo", repo])).code, 0);
    } finally {
      writeFileSync(file, original);
    }
  });

  test("restore fills an empty database, refuses a non-empty one, and replaces with --clean", async () => {
    const target = await pg.createDatabase("restored");
    const restored = await fx.restore("latest", target);
    assert.equal(restored.code, 0, restored.stderr);
    const rows = await pg.query<{ n: string; total: string }>(
      "select (select count(*) from users) as n, (select sum(total) from billing.invoices) as total",
      [],
      "restored",
    );
    assert.deepEqual(rows[0], { n: "2000", total: `${(5000 * 5001 * 1.25) / 2}.00` });

    await pg.query(
      "update users set name = 'changed'; insert into users (name) values ('local change')",
      [],
      "restored",
    );
    const refused = await fx.restore(backupId, target);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /target database .*restored is not empty .*--clean/s);
    assert.equal(
      (await pg.query("select count(*)::int as n from users", [], "restored"))[0]!.n,
      2001,
      "target changed",
    );

    const cleaned = await fx.restore(backupId, target, ["--clean"]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    const after = await pg.query<{ n: number; changed: number }>(
      "select count(*)::int as n, count(*) filter (where name = 'changed')::int as changed from users",
      [],
      "restored",
    );
    assert.deepEqual(after[0], { n: 2000, changed: 0 });
  });

  test("a drill restores into a scratch database, verifies, measures, drops it and writes evidence", async () => {
    const evidence = join(dir, "evidence");
    const result = await fx.drill([
      "--assert",
      "select count(*) = 2000 from users",
      "--assert",
      "select sum(total) > 0 from billing.invoices",
      "--rto",
      "1h",
      "--rpo",
      "24h",
      "--evidence-dir",
      evidence,
      "--format",
      "json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.kind, "drill");
    assert.equal(report.version, 1);
    assert.equal(report.ok, true);
    assert.equal(report.backup.id, backupId);
    assert.deepEqual(
      report.tables.map((table: { ok: boolean }) => table.ok),
      [true, true, true, true, true],
    );
    assert.deepEqual(
      report.assertions.map((assertion: { ok: boolean }) => assertion.ok),
      [true, true],
    );
    for (const phase of ["fetchMs", "decryptMs", "restoreMs", "verifyMs"])
      assert.ok(report.phases[phase] >= 0, phase);
    assert.ok(report.phases.restoreMs > 0);
    assert.equal(report.rto.met, true);
    assert.equal(report.rpo.met, true);
    assert.equal(report.rpo.reference, "now");
    assert.equal(report.rpo.archive, null, "no WAL archive in this repository");
    assert.ok(report.rpo.measuredMs >= 0 && report.rpo.measuredMs < 10 * 60_000);
    assert.equal(report.scratchDropped, true);
    const leftovers = await pg.query("select datname from pg_database where datname like 'bulwark_drill_%'");
    assert.deepEqual(leftovers, []);
    const files = readdirSync(evidence).sort();
    assert.equal(files.length, 2);
    assert.deepEqual(JSON.parse(readFileSync(join(evidence, files[0]!), "utf8")), report);
    assert.match(readFileSync(join(evidence, files[1]!), "utf8"), /# Restore drill passed/);
    const shown = await run(["backup", "show", backupId, "--repo", repo, "--format", "json"]);
    assert.equal(JSON.parse(shown.stdout).verified.id, backupId, "a passing drill marks the backup verified");
  });

  test("a failing assertion and a missed objective fail the drill with exit 1, and the scratch database is dropped", async () => {
    const result = await fx.drill([
      "--id",
      backupId,
      "--assert",
      "select count(*) = 1 from users",
      "--assert",
      "select no_such_column from users",
      "--rpo",
      "1h",
      "--incident-time",
      new Date(Date.now() + 2 * 3_600_000).toISOString(),
      "--no-evidence",
      "--format",
      "json",
    ]);
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.assertions.map((assertion: { ok: boolean }) => assertion.ok),
      [false, false],
    );
    assert.match(report.assertions[1].detail, /error: column "no_such_column" does not exist/);
    assert.equal(report.rpo.reference, "incident");
    assert.equal(report.rpo.met, false);
    assert.ok(report.failures.some((failure: string) => /RPO objective missed/.test(failure)));
    assert.match(result.stderr, /drill FAILED/);
    assert.deepEqual(
      await pg.query("select datname from pg_database where datname like 'bulwark_drill_%'"),
      [],
    );
  });

  test("a passphrase from a ${env:} reference works end to end; --no-owner restores without ownership", async () => {
    const config = join(dir, "passphrase.yaml");
    const passRepo = join(dir, "pass-repo");
    writeFileSync(config, `backup:\n  repo: ${passRepo}\n  passphrase: \${env:BULWARK_TEST_PASSPHRASE}\n`);
    const env = {
      PGPASSWORD: "",
      DATABASE_URL: "",
      BULWARK_TEST_PASSPHRASE: "a long enough test passphrase",
    };
    const made = await runCli(["backup", "-c", config, "--db", sourceUrl, "--format", "json"], {
      env,
      timeoutMs: 60_000,
    });
    assert.equal(made.code, 0, made.stderr);
    assert.equal(JSON.parse(made.stdout).encryption.keyKind, "passphrase");
    const target = await pg.createDatabase("no_owner");
    const restored = await runCli(["restore", "latest", "-c", config, "--to", target, "--no-owner"], {
      env,
      timeoutMs: 60_000,
    });
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal((await pg.query("select count(*)::int as n from users", [], "no_owner"))[0]!.n, 2000);
    const wrong = await runCli(["restore", "latest", "-c", config, "--to", target], {
      env: { ...env, BULWARK_TEST_PASSPHRASE: "another long test passphrase" },
      timeoutMs: 60_000,
    });
    assert.equal(wrong.code, 3);
    assert.match(wrong.stderr, /wrong key/);
    const unset = await runCli(["backup", "list", "-c", config], { env: { BULWARK_TEST_PASSPHRASE: "" } });
    assert.equal(unset.code, 2);
    assert.match(
      unset.stderr,
      /passphrase\.yaml:3:\d+ backup\.passphrase: \$\{env:BULWARK_TEST_PASSPHRASE\} is not set/,
    );
  });

  test("prune applies keep-last, never removes the newest verified backup, and --dry-run removes nothing", async () => {
    for (let i = 0; i < 2; i++) {
      const result = await run(["backup", "--db", sourceUrl, "--repo", repo, "--key-file", key]);
      assert.equal(result.code, 0, result.stderr);
    }
    const before = (await list()).backups.map((backup) => backup.id);
    assert.equal(before.length, 3);
    assert.equal(before[0], backupId);
    const dry = await run([
      "backup",
      "prune",
      "--repo",
      repo,
      "--keep-last",
      "1",
      "--dry-run",
      "--format",
      "json",
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    // The oldest backup passed a drill: it is the newest verified one and stays.
    assert.equal(plan.protectedId, backupId);
    assert.equal(plan.protectedBy, "drill");
    assert.deepEqual(plan.decision.remove, [before[1]]);
    assert.deepEqual(
      (await list()).backups.map((backup) => backup.id),
      before,
    );
    const pruned = await run(["backup", "prune", "--repo", repo, "--keep-last", "1"]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(
      (await list()).backups.map((backup) => backup.id),
      [before[0], before[2]],
    );
    const noRule = await run(["backup", "prune", "--repo", repo]);
    assert.equal(noRule.code, 2);
    assert.match(noRule.stderr, /no retention rule/);
  });
});
