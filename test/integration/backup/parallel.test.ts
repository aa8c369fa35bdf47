/**
 * Split backups and parallel restores (`--jobs`) through the built CLI against a real
 * PostgreSQL 15: backup --jobs 3 while writes run, restore --jobs 3 into an empty database (data
 * against the manifest, schema objects against the source), --clean, drill --jobs 2, a
 * single-artifact backup restored with --jobs, list/show; faults: a tampered, a truncated and a
 * missing artifact (refused before the target is touched, naming the artifact), a restore failing
 * after the schema step (the error says the target holds a partial restore), one pg_dump
 * failing (the others stopped, the partial backup removed), a backup SIGKILLed while several
 * pg_dumps run (never listed), and a full repository disk.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { finished, waitForOutput } from "../../support/cli.js";
import type { TestPostgres } from "../../support/postgres.js";
import {
  type BackupFixture,
  countRelations,
  lockTable,
  runBulwark,
  spawnBulwark,
  startBackupFixture,
  tableStats,
  tinyRepository,
} from "./fixture.js";

let fx: BackupFixture;
let server: TestPostgres;
let dir: string;
let key: string;
let repo: string;
let sourceUrl: string;

const AWKWARD = 'Odd.Table "Q" *';

// Several tables of different sizes: four above split-plan's 1 MiB, the two largest one with an
// awkward name (so split-plan gives it a data artifact of its own) and a partition; small ones, a
// partitioned table, sequences, indexes, a foreign key, a view, a trigger and a large object.
const SEED = `
  create table accounts (id serial primary key, owner text not null, balance numeric(12, 2), note text);
  insert into accounts (owner, balance, note) select 'owner ' || g, g * 0.5, repeat(md5(g::text), 2)
    from generate_series(1, 12000) g;
  create index accounts_owner on accounts (owner);
  create table events (id bigserial primary key, account_id int references accounts(id), at timestamptz, body text);
  insert into events (account_id, at, body)
    select 1 + g % 12000, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', md5(g::text) || md5((g + 1)::text)
    from generate_series(1, 10000) g;
  create schema "Odd Schema";
  create table "Odd Schema"."${AWKWARD.replace(/"/g, '""')}" (k int primary key, v text);
  insert into "Odd Schema"."${AWKWARD.replace(/"/g, '""')}" select g, repeat(md5((g * 3)::text), 3) from generate_series(1, 16000) g;
  create table measurements (id int, at date, value float8, primary key (id, at)) partition by range (at);
  create table measurements_2025 partition of measurements for values from ('2025-01-01') to ('2026-01-01');
  create table measurements_2026 partition of measurements for values from ('2026-01-01') to ('2027-01-01');
  insert into measurements select g, date '2025-01-01' + (g % 365), g / 3.0 from generate_series(1, 36000) g;
  insert into measurements select g, date '2026-01-01' + (g % 365), g / 3.0 from generate_series(1, 5000) g;
  create index measurements_at on measurements (at);
  create table settings (name text primary key, value text, account_id int references accounts(id));
  insert into settings values ('a', '1', 1), ('b', '2', 2);
  create table tiny_empty (x int);
  create sequence ticket_seq;
  select setval('ticket_seq', 4242);
  create view rich as select id, owner from accounts where balance > 9000;
  create function touch() returns trigger language plpgsql as $$ begin new.value := new.value; return new; end $$;
  create trigger settings_touch before update on settings for each row execute function touch();
  select lo_from_bytea(0, convert_to('large object content', 'UTF8'));
`;

const run = (args: string[], timeoutMs?: number) => runBulwark(args, { timeoutMs });

interface ManifestJson {
  id: string;
  formatVersion: number;
  dump: {
    format: string;
    jobs?: number;
    schemaArtifact?: string;
    parts?: { artifact: string; tableBytes: number; tables: { schema: string; name: string }[] }[];
  };
  artifacts: { name: string; size: number; sha256: string }[];
  tables: { schema: string; name: string; rows: number; checksum: string; method: string }[];
}

const backup = (repository: string, url: string, extra: string[] = []) =>
  fx.backup<ManifestJson>(extra, { repo: repository, db: url });

const listed = (repository: string) =>
  fx.list<{ backups: ManifestJson[]; incomplete: { id: string; live: boolean; reason: string }[] }>({
    repo: repository,
  });

const stats = tableStats;

/** The schema objects a restore must bring back, as text, sorted. */
async function schemaObjects(database: string): Promise<string[]> {
  const rows = await server.query<{ item: string }>(
    `select 'index ' || schemaname || '.' || indexname || ': ' || indexdef as item from pg_indexes
       where schemaname not in ('pg_catalog', 'information_schema')
     union all
     select 'invalid index ' || indexrelid::regclass::text from pg_index i join pg_class c on c.oid = i.indexrelid
       where not i.indisvalid and c.relnamespace <> 'pg_catalog'::regnamespace
     union all
     select 'constraint ' || conrelid::regclass::text || ' ' || conname || ': ' || pg_get_constraintdef(oid)
       from pg_constraint where connamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
     union all
     select 'view ' || schemaname || '.' || viewname || ': ' || definition from pg_views
       where schemaname not in ('pg_catalog', 'information_schema')
     union all
     select 'trigger ' || tgrelid::regclass::text || ' ' || tgname from pg_trigger where not tgisinternal
     union all
     select 'sequence ' || schemaname || '.' || sequencename || ' ' || coalesce(last_value::text, 'unset')
       from pg_sequences where sequencename <> 'events_id_seq'
     union all
     select 'partition ' || inhrelid::regclass::text || ' of ' || inhparent::regclass::text from pg_inherits
     union all
     select 'large object ' || convert_from(lo_get(oid), 'UTF8') from pg_largeobject_metadata
     order by 1`,
    [],
    database,
  );
  return rows.map((row) => row.item);
}

const relationCount = (database: string) => countRelations(server, database);

before(async () => {
  fx = await startBackupFixture({ prefix: "bulwark-parallel-", seed: SEED });
  ({ server, dir, key, repo, sourceUrl } = fx);
});

after(() => fx?.close());

describe("split backups and parallel restores", () => {
  let split: ManifestJson;

  test("backup --jobs 3 while writes run: a split backup whose counts and checksums are the snapshot's", async () => {
    const writer = new pg.Client({ connectionString: sourceUrl });
    await writer.connect();
    let writing = true;
    let written = 0;
    const loop = (async () => {
      while (writing) {
        await writer.query("insert into events (account_id, at, body) values (1, now(), $1)", [
          randomBytes(8).toString("hex"),
        ]);
        await writer.query("update accounts set balance = balance + 1 where id = $1", [1 + (written % 500)]);
        written++;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const startCount = written;
    split = await backup(repo, sourceUrl, ["--jobs", "3"]);
    const duringCount = written - startCount;
    writing = false;
    await loop;
    await writer.end();
    assert.ok(duringCount > 0, "no writes happened during the backup");

    assert.equal(split.formatVersion, 2);
    assert.equal(split.dump.format, "split");
    assert.equal(split.dump.jobs, 3);
    assert.equal(split.dump.schemaArtifact, "schema.bwenc");
    const parts = split.dump.parts!;
    assert.ok(parts.length >= 1 && parts.length <= 2, `${parts.length} data artifacts for 3 jobs`);
    assert.deepEqual(
      split.artifacts.map((artifact) => artifact.name).sort(),
      ["schema.bwenc", ...parts.map((part) => part.artifact)].sort(),
    );
    // The two largest tables have data artifacts (the next ones balance the streams), each table
    // is in at most one, the small ones in none.
    const inParts = parts.flatMap((part) => part.tables.map((table) => `${table.schema}.${table.name}`));
    assert.equal(new Set(inParts).size, inParts.length);
    assert.ok(inParts.includes(`Odd Schema.${AWKWARD}`), inParts.join(", "));
    assert.ok(inParts.includes("public.measurements_2025"), inParts.join(", "));
    for (const small of ["public.settings", "public.tiny_empty", "public.measurements_2026"]) {
      assert.ok(!inParts.includes(small), small);
    }
    assert.ok(parts.every((part) => part.tableBytes > 1024 * 1024));
    // Every artifact on disk, encrypted, with the manifest's size.
    const files = readdirSync(join(repo, split.id)).sort();
    assert.deepEqual(files, [...split.artifacts.map((artifact) => artifact.name), "manifest.json"].sort());
    for (const artifact of split.artifacts) {
      const bytes = readFileSync(join(repo, split.id, artifact.name));
      assert.equal(bytes.length, artifact.size);
      assert.equal(bytes.subarray(0, 4).toString(), "BWBK");
      assert.ok(!bytes.includes(Buffer.from("PGDMP")), `${artifact.name} is not encrypted`);
    }
    // Snapshot consistency: events has the rows of one moment during the backup.
    const events = split.tables.find((table) => table.name === "events")!;
    const finalCount = (
      await server.query<{ n: number }>("select count(*)::int as n from events", [], "app")
    )[0]!.n;
    assert.ok(
      events.rows >= 10000 + startCount && events.rows < finalCount,
      `${events.rows} not in [${10000 + startCount}, ${finalCount})`,
    );
  });

  test("restore --jobs 3 into an empty database: data equals the manifest, schema objects equal the source", async () => {
    const target = await server.createDatabase("restored");
    const restored = await fx.restore(split.id, target, ["--jobs", "3"]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.doesNotMatch(restored.stderr, /note:/);
    assert.deepEqual(await stats(target), split.tables);
    const source = await schemaObjects("app");
    assert.deepEqual(await schemaObjects("restored"), source);
    assert.ok(source.some((item) => item.startsWith("constraint events events_account_id_fkey")));
    assert.ok(source.includes("sequence public.ticket_seq 4242"));
    assert.ok(source.includes("large object large object content"));
    assert.ok(!source.some((item) => item.startsWith("invalid index")));
    // The owned sequence carries on after the restored rows.
    const next = await server.query<{ ok: boolean }>(
      "select nextval('accounts_id_seq') > (select max(id) from accounts) as ok",
      [],
      "restored",
    );
    assert.equal(next[0]!.ok, true);
  });

  test("a non-empty target is refused untouched; --clean --jobs 2 replaces it", async () => {
    const target = server.url("restored");
    await server.query(
      "update settings set value = 'changed'; delete from events where id < 100",
      [],
      "restored",
    );
    const before = await relationCount("restored");
    const refused = await fx.restore(split.id, target, ["--jobs", "2"]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /is not empty/);
    assert.equal(await relationCount("restored"), before);
    const cleaned = await fx.restore(split.id, target, ["--jobs", "2", "--clean"]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.deepEqual(await stats(target), split.tables);
    assert.deepEqual(await schemaObjects("restored"), await schemaObjects("app"));
  });

  test("drill --jobs 2 passes, with every table checked and the RTO phases measured", async () => {
    const drill = await fx.drill([
      "--id",
      split.id,
      "--jobs",
      "2",
      "--format",
      "json",
      "--no-evidence",
      "--assert",
      "select count(*) = 2 from settings",
    ]);
    assert.equal(drill.code, 0, drill.stderr);
    const report = JSON.parse(drill.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.tables.length, split.tables.length);
    assert.ok(report.tables.every((table: { ok: boolean }) => table.ok));
    assert.ok(report.phases.restoreMs > 0 && report.phases.fetchMs >= 0 && report.phases.decryptMs >= 0);
    assert.equal(report.scratchDropped, true);
    assert.deepEqual(
      [report.backup.format, report.backup.artifacts, report.restoreJobs],
      ["split", split.artifacts.length, 2],
    );
  });

  test("list and show describe a split backup's artifacts; a single-artifact backup restores with --jobs as before, with a note", async () => {
    const shown = await run(["backup", "show", split.id, "--repo", repo]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, /split: \d artifacts by 3 jobs/);
    for (const artifact of split.artifacts)
      assert.match(shown.stderr, new RegExp(`artifact\\s+${artifact.name}`));
    const single = await backup(repo, sourceUrl);
    assert.equal(single.formatVersion, 1);
    assert.equal(single.dump.format, "custom");
    const listing = await listed(repo);
    assert.deepEqual(
      listing.backups.map((backup) => [backup.id, backup.dump.format]),
      [
        [split.id, "split"],
        [single.id, "custom"],
      ],
    );
    const target = await server.createDatabase("from_single");
    const restored = await fx.restore(single.id, target, ["--jobs", "2"]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.stderr.match(/note:/g)?.length, 1, restored.stderr);
    assert.match(
      restored.stderr,
      /note: backup \S+ is a single artifact .* one pg_restore, in one transaction/,
    );
    assert.deepEqual(await stats(target), single.tables);
  });

  test("a tampered, a truncated or a missing artifact: refused before the target is touched, naming it", async () => {
    const part = split.dump.parts!.at(-1)!.artifact;
    const cases: { name: string; damage: (file: string) => void; expected: RegExp }[] = [
      {
        name: "tampered",
        damage: (file) => {
          const bytes = readFileSync(file);
          bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
          writeFileSync(file, bytes);
        },
        expected: new RegExp(`is corrupt: the SHA-256 of ${part.replace(".", "\\.")} does not match`),
      },
      {
        name: "truncated",
        damage: (file) => truncateSync(file, 1000),
        expected: new RegExp(`is truncated: ${part.replace(".", "\\.")} has 1000 bytes`),
      },
      {
        name: "missing",
        damage: (file) => rmSync(file),
        expected: new RegExp(`is missing its artifact ${part.replace(".", "\\.")}`),
      },
    ];
    const target = await server.createDatabase("untouched");
    for (const { name, damage, expected } of cases) {
      const damagedRepo = join(dir, `damaged-${name}`);
      cpSync(join(repo, split.id), join(damagedRepo, split.id), { recursive: true });
      damage(join(damagedRepo, split.id, part));
      const result = await run([
        "restore",
        split.id,
        "--to",
        target,
        "--repo",
        damagedRepo,
        "--key-file",
        key,
        "--jobs",
        "3",
      ]);
      assert.equal(result.code, 3, `${name}: ${result.stderr}`);
      assert.match(result.stderr, expected, name);
      assert.equal(await relationCount("untouched"), 0, `${name}: the target was touched`);
    }
  });

  test("a parallel restore failing after the schema step says the target holds a partial restore", async () => {
    const target = await server.createDatabase("partial");
    // Not a relation, so the target counts as empty; it makes every CREATE INDEX fail.
    await server.query(
      `create function deny() returns event_trigger language plpgsql as $$ begin raise exception 'no indexes here'; end $$;
       create event trigger no_indexes on ddl_command_start when tag in ('CREATE INDEX') execute function deny();`,
      [],
      "partial",
    );
    const result = await fx.restore(split.id, target, ["--jobs", "2"]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /pg_restore of schema\.bwenc \(indexes and keys\) failed \(exit 1\); a split backup is restored by several pg_restore processes, not in one transaction: the target now holds a partial restore; drop and recreate it, or restore again with --clean/,
    );
    assert.match(result.stderr, /no indexes here/);
    // The data steps had committed: the partial state the message describes.
    const rows = await server.query<{ n: number }>("select count(*)::int as n from settings", [], "partial");
    assert.equal(rows[0]!.n, 2);
  });

  test("one pg_dump failing stops the others and removes the partial backup", async () => {
    const failRepo = join(dir, "fail");
    // A lock on the partitioned parent (not on its partitions, whose sizes the backup reads
    // first) makes the schema pg_dump and the data pg_dump of a partition wait mid-backup; the
    // partition's is killed, the schema's must be stopped.
    const release = await lockTable(sourceUrl, "only measurements");
    try {
      const child = spawnBulwark(fx.backupArgs(["--jobs", "3"], { repo: failRepo }));
      await waitForOutput(child, /backup (\S+) started/, 20_000);
      let victim: number | undefined;
      for (let attempt = 0; attempt < 100 && victim === undefined; attempt++) {
        const lines = spawnSync("pgrep", ["-a", "pg_dump"], { encoding: "utf8" }).stdout.split("\n");
        const line = lines.find((entry) => entry.includes('--table="public"."measurements_2025"'));
        if (line) victim = Number(line.split(" ")[0]);
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(victim, "the data pg_dump of measurements_2025 is not running");
      process.kill(victim, "SIGKILL");
      const result = await finished(child, 20_000);
      assert.equal(result.code, 3, result.stderr);
      // Killed before it wrote anything: its empty output is caught first.
      assert.match(
        result.stderr,
        /pg_dump of data-\d{4}\.bwenc (failed \(SIGKILL\)|did not produce a pg_dump custom archive \(empty output\))/,
      );
      assert.deepEqual(readdirSync(failRepo), []);
      const left = spawnSync("pgrep", ["-a", "pg_dump"], { encoding: "utf8" }).stdout;
      // This backup's pg_dumps are the ones naming its tables (other test files run pg_dump too).
      assert.ok(!left.includes("measurements_2025"), `pg_dumps left running: ${left}`);
    } finally {
      await release();
    }
  });

  test("a backup SIGKILLed while several pg_dumps run is never listed; the complete one is untouched", async () => {
    const killRepo = join(dir, "killed");
    cpSync(join(repo, split.id), join(killRepo, split.id), { recursive: true });
    const release = await lockTable(sourceUrl, "only measurements");
    let id: string | undefined;
    try {
      const child = spawnBulwark(fx.backupArgs(["--jobs", "3"], { repo: killRepo }));
      [, id] = await waitForOutput(child, /backup (\S+) started/, 20_000);
      let running = 0;
      for (let attempt = 0; attempt < 100 && running < 2; attempt++) {
        // The schema pg_dump (--exclude-table-data) and the partition's, both waiting on the lock.
        running = spawnSync("pgrep", ["-f", "pg_dump.*measurements_2025"], { encoding: "utf8" })
          .stdout.trim()
          .split("\n")
          .filter(Boolean).length;
        if (running < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(running >= 2, `${running} pg_dumps running`);
      child.kill("SIGKILL");
      await finished(child, 5000);
    } finally {
      await release();
    }
    const listing = await listed(killRepo);
    assert.deepEqual(
      listing.backups.map((backup) => backup.id),
      [split.id],
    );
    assert.deepEqual(listing.incomplete, [
      { id, live: false, reason: "no manifest (incomplete or interrupted)" },
    ]);
    assert.deepEqual(
      readdirSync(join(killRepo, split.id)).sort(),
      // verified.json: the drill above passed.
      [...split.artifacts.map((artifact) => artifact.name), "manifest.json", "verified.json"].sort(),
    );
  });

  test("a full repository disk (2 MiB tmpfs): exit 3, the partial split backup removed", async (t) => {
    const mountPoint = tinyRepository(t, join(dir, "tiny"));
    const big = await server.createDatabase("big");
    // Random hex does not compress below 2 MiB; two tables so two data artifacts write at once.
    await server.query(
      `create table one (body text); insert into one select md5(random()::text) || md5(random()::text) from generate_series(1, 50000);
       create table two (body text); insert into two select md5(random()::text) || md5(random()::text) from generate_series(1, 50000);`,
      [],
      "big",
    );
    const result = await run(["backup", "--db", big, "--repo", mountPoint, "--key-file", key, "--jobs", "3"]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /repository .* is full \(ENOSPC\); the partial backup was removed/);
    assert.deepEqual(readdirSync(mountPoint), []);
    assert.ok(!existsSync(join(mountPoint, "manifest.json")));
  });
});
