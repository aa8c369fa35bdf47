/**
 * Faults, each against a real PostgreSQL 15 and the built CLI: wrong key, a flipped bit (with
 * and without a forged manifest), a truncated artifact, a deleted manifest, a full repository
 * disk (a 2 MiB tmpfs), the database unreachable, a backup SIGKILLed or interrupted halfway,
 * and writes running during a backup. Each gives a clear error, marks nothing complete that is
 * not, and leaves the rest of the repository and the restore target untouched.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { readKeyFile } from "../../../src/backup/backup-key.js";
import { manifestMac } from "../../../src/backup/manifest-mac.js";
import { finished, waitForOutput } from "../../support/cli.js";
import type { TestPostgres } from "../../support/postgres.js";
import {
  type BackupFixture,
  countRelations,
  lockTable,
  runBulwark,
  spawnBulwark,
  startBackupFixture,
  tinyRepository,
} from "./fixture.js";

let fx: BackupFixture;
let server: TestPostgres;
let dir: string;
let key: string;
let repo: string;
let sourceUrl: string;
let goodId: string;

const run = (args: string[], timeoutMs?: number) => runBulwark(args, { timeoutMs });

const backup = (repository: string, url = sourceUrl) => fx.backup([], { repo: repository, db: url });

const listed = (repository: string) => fx.list({ repo: repository });

/** A copy of the good backup in its own repository, to damage. */
function copyRepo(name: string): { repo: string; dir: string } {
  const copy = join(dir, name);
  cpSync(join(repo, goodId), join(copy, goodId), { recursive: true });
  return { repo: copy, dir: join(copy, goodId) };
}

async function emptyTarget(name: string): Promise<string> {
  return server.createDatabase(name);
}

const relationCount = (database: string) => countRelations(server, database);

before(async () => {
  fx = await startBackupFixture({
    prefix: "bulwark-backup-faults-",
    seed: `create table items (id serial primary key, body text);
     insert into items (body) select repeat(md5(g::text), 20) from generate_series(1, 20000) g;`,
  });
  ({ server, dir, key, repo, sourceUrl } = fx);
  goodId = (await backup(repo)).id;
});

after(() => fx?.close());

describe("damaged backups are refused before the target is touched", () => {
  test("wrong key: restore exits 3 naming both key ids; a drill fails with exit 1", async () => {
    const otherKey = join(dir, "other.key");
    assert.equal((await run(["backup", "keygen", "--out", otherKey])).code, 0);
    const target = await emptyTarget("wrong_key");
    const result = await fx.restore(goodId, target, [], { key: otherKey });
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /wrong key: backup .* was encrypted with key [0-9a-f]{16}, the key given is [0-9a-f]{16}/,
    );
    assert.equal(await relationCount("wrong_key"), 0);
    const drill = await fx.drill(["--no-evidence", "--format", "json"], { key: otherKey });
    assert.equal(drill.code, 1, drill.stderr);
    assert.match(JSON.parse(drill.stdout).failures[0], /^backup_wrong_key: wrong key/);
  });

  test("a flipped bit fails the SHA-256 check; a manifest rewritten to match fails its authentication", async () => {
    const damaged = copyRepo("flipped");
    const artifact = join(damaged.dir, "dump.bwenc");
    const bytes = readFileSync(artifact);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(artifact, bytes);
    const target = await emptyTarget("flipped");
    const result = await fx.restore(goodId, target, [], { repo: damaged.repo });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /is corrupt: the SHA-256 of dump\.bwenc does not match the manifest/);

    // An attacker who can also rewrite the manifest still cannot get past AES-GCM.
    const manifestFile = join(damaged.dir, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    manifest.artifacts[0].sha256 = execFileSync("sha256sum", [artifact], { encoding: "utf8" }).split(" ")[0];
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const forged = await fx.restore(goodId, target, [], { repo: damaged.repo });
    assert.equal(forged.code, 3, forged.stderr);
    assert.match(
      forged.stderr,
      /the manifest of backup \S+ failed authentication: it was modified after the backup/,
    );
    assert.equal(await relationCount("flipped"), 0, "the target was touched");
  });

  test("a drill fails when the restored data differs from the manifest's counts or checksums", async () => {
    const damaged = copyRepo("stats-differ");
    const drill = () => fx.drill(["--no-evidence", "--format", "json"], { repo: damaged.repo });
    const manifestFile = join(damaged.dir, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    // Whoever holds the key can re-sign the manifest: the drill still compares with the data.
    const backupKey = readKeyFile(key);
    manifest.tables[0].checksum = String(BigInt(manifest.tables[0].checksum) + 1n);
    manifest.mac = await manifestMac(manifest, backupKey);
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const checksum = await drill();
    assert.equal(checksum.code, 1, checksum.stderr);
    assert.deepEqual(JSON.parse(checksum.stdout).failures, [
      "table public.items: content checksum differs from the manifest",
    ]);
    manifest.tables[0].rows += 1;
    manifest.mac = await manifestMac(manifest, backupKey);
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const unsigned = { ...manifest, tables: [{ ...manifest.tables[0], rows: 1 }] };
    writeFileSync(join(damaged.dir, "manifest.json"), JSON.stringify(unsigned));
    const tampered = await drill();
    assert.equal(tampered.code, 1, tampered.stderr);
    assert.match(
      JSON.parse(tampered.stdout).failures[0],
      /^backup_corrupt: the manifest of backup .* failed authentication/,
    );
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const rows = await drill();
    assert.equal(rows.code, 1, rows.stderr);
    assert.deepEqual(JSON.parse(rows.stdout).failures, [
      "table public.items: 20000 rows restored, the manifest says 20001",
    ]);
  });

  test("a truncated artifact is reported as truncated", async () => {
    const damaged = copyRepo("truncated");
    const artifact = join(damaged.dir, "dump.bwenc");
    truncateSync(artifact, Math.floor(readFileSync(artifact).length / 2));
    const target = await emptyTarget("truncated");
    const result = await fx.restore(goodId, target, [], { repo: damaged.repo });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /is truncated: dump\.bwenc has \d+ bytes, the manifest says \d+/);
    assert.equal(await relationCount("truncated"), 0);
  });

  test("a deleted manifest: the backup is not listed and cannot be restored; latest falls back", async () => {
    const damaged = copyRepo("no-manifest");
    const older = damaged.dir;
    // A second, newer backup whose manifest is then deleted.
    const newer = (await backup(damaged.repo)).id;
    rmSync(join(damaged.repo, newer, "manifest.json"));
    const listing = await listed(damaged.repo);
    assert.deepEqual(
      listing.backups.map((backup) => backup.id),
      [goodId],
    );
    assert.deepEqual(
      listing.incomplete.map((entry) => entry.id),
      [newer],
    );
    const target = await emptyTarget("no_manifest");
    const byId = await fx.restore(newer, target, [], { repo: damaged.repo });
    assert.equal(byId.code, 3, byId.stderr);
    assert.match(byId.stderr, /backup .* is not usable: no manifest \(incomplete or interrupted\)/);
    assert.ok(existsSync(older));
    const latest = await fx.restore("latest", target, [], { repo: damaged.repo });
    assert.equal(latest.code, 0, latest.stderr);
    assert.match(latest.stderr, new RegExp(`restored backup ${goodId}`));
  });
});

describe("failures while backing up leave nothing marked complete", () => {
  test("the database unreachable: exit 3 with the reason, no backup directory", async () => {
    const empty = join(dir, "unreachable");
    const result = await run(fx.backupArgs([], { db: "postgres://postgres@127.0.0.1:1/app", repo: empty }));
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /cannot connect to postgres:\/\/postgres@127\.0\.0\.1:1\/app: .*ECONNREFUSED/,
    );
    assert.ok(!existsSync(empty) || readdirSync(empty).length === 0);
  });

  test("a full repository disk (2 MiB tmpfs): exit 3, the partial backup removed, the earlier one intact", async (t) => {
    const mountPoint = tinyRepository(t, join(dir, "tiny"));
    const small = await server.createDatabase("small");
    await server.query("create table t (x int); insert into t select generate_series(1, 100)", [], "small");
    const first = await backup(mountPoint, small);
    // About 6 MiB of random hex: more than 2 MiB even after pg_dump's compression.
    const big = await server.createDatabase("big");
    await server.query(
      "create table blobs (body text); insert into blobs select md5(random()::text) || md5(random()::text) from generate_series(1, 100000)",
      [],
      "big",
    );
    const result = await run(["backup", "--db", big, "--repo", mountPoint, "--key-file", key]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /repository .* is full \(ENOSPC\); the partial backup was removed/);
    const listing = await listed(mountPoint);
    assert.deepEqual(
      listing.backups.map((backup) => backup.id),
      [first.id],
    );
    assert.deepEqual(listing.incomplete, []);
    const drill = await fx.drill(["--no-evidence"], { repo: mountPoint });
    assert.equal(drill.code, 0, drill.stderr);
  });

  test("a backup SIGKILLed halfway is never listed, damages nothing, the next backup works, prune removes it", async () => {
    const killRepo = join(dir, "killed");
    cpSync(join(repo, goodId), join(killRepo, goodId), { recursive: true });
    // Hold a lock so pg_dump waits mid-backup, deterministically.
    const release = await lockTable(sourceUrl, "items");
    const child = spawnBulwark(fx.backupArgs([], { repo: killRepo }));
    const [, id] = await waitForOutput(child, /backup (\S+) started/, 20_000);
    // pg_dump is running now; its command line must not carry the password.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const dumps = spawnSync("pgrep", ["-a", "pg_dump"], { encoding: "utf8" }).stdout;
    assert.match(dumps, /--snapshot=/, "pg_dump is not running");
    assert.ok(!dumps.includes(server.password), "the password is on pg_dump's command line");
    child.kill("SIGKILL");
    await finished(child, 5000);
    await release();

    const listing = await listed(killRepo);
    assert.deepEqual(
      listing.backups.map((backup) => backup.id),
      [goodId],
    );
    assert.deepEqual(listing.incomplete, [
      { id, live: false, reason: "no manifest (incomplete or interrupted)" },
    ]);
    const next = await backup(killRepo);
    assert.deepEqual(
      (await listed(killRepo)).backups.map((backup) => backup.id),
      [goodId, next.id],
    );
    const prune = await run(["backup", "prune", "--repo", killRepo, "--keep-last", "5"]);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stderr, new RegExp(`removed ${id} \\(incomplete\\)`));
    assert.deepEqual(readdirSync(killRepo).sort(), [goodId, next.id].sort());
  });

  test("Ctrl-C during a backup removes the partial directory and exits 130", async () => {
    const interruptRepo = join(dir, "interrupted");
    const release = await lockTable(sourceUrl, "items");
    try {
      const child = spawnBulwark(fx.backupArgs([], { repo: interruptRepo }));
      await waitForOutput(child, /backup (\S+) started/, 20_000);
      child.kill("SIGINT");
      const result = await finished(child, 15_000);
      assert.equal(result.code, 130, result.stderr);
      assert.match(result.stderr, /backup interrupted; the partial backup was removed/);
      assert.deepEqual(readdirSync(interruptRepo), []);
    } finally {
      await release();
    }
  });

  test("writes during a backup: counts and checksums match the dump's snapshot, and a drill proves it", async () => {
    const busy = await server.createDatabase("busy");
    await server.query(
      `create table bulk (id serial primary key, body text);
       insert into bulk (body) select repeat(md5(g::text), 10) from generate_series(1, 300000) g;
       create table events (id bigserial primary key, at timestamptz default clock_timestamp(), note text);`,
      [],
      "busy",
    );
    const writer = new pg.Client({ connectionString: busy });
    await writer.connect();
    let writing = true;
    let written = 0;
    const loop = (async () => {
      while (writing) {
        await writer.query("insert into events (note) values ($1)", [randomBytes(8).toString("hex")]);
        await writer.query("update bulk set body = body || 'x' where id = $1", [1 + (written % 1000)]);
        written++;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const startCount = written;
    const busyRepo = join(dir, "busy");
    const manifest = await backup(busyRepo, busy);
    const duringCount = written - startCount;
    await new Promise((resolve) => setTimeout(resolve, 300));
    writing = false;
    await loop;
    await writer.end();
    const events = manifest.tables.find((table) => table.name === "events")!;
    const finalCount = (
      await server.query<{ n: number }>("select count(*)::int as n from events", [], "busy")
    )[0]!.n;
    assert.ok(duringCount > 0, "no writes happened during the backup");
    assert.ok(
      events.rows >= startCount && events.rows < finalCount,
      `${events.rows} not in [${startCount}, ${finalCount})`,
    );
    const drill = await fx.drill(["--no-evidence", "--format", "json"], { repo: busyRepo });
    assert.equal(drill.code, 0, drill.stderr);
    const report = JSON.parse(drill.stdout);
    assert.deepEqual(
      report.tables.map((table: { name: string; restoredRows: number; ok: boolean }) => [
        table.name,
        table.ok,
      ]),
      [
        ["bulk", true],
        ["events", true],
      ],
    );
    assert.equal(report.tables[1].restoredRows, events.rows);
  });
});
