/**
 * Point-in-time recovery against a real PostgreSQL 15: archive_command = `bulwark wal push`
 * into the encrypted repository, a base backup with `bulwark backup --base`, then
 * `bulwark restore --data-dir --to-time T`, and a second server started on the restored
 * directory recovers exactly the rows committed before T. Also: wal push is idempotent and
 * refuses to overwrite, wal fetch exits 1 for a file not in the archive.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { BIN, runCli } from "../../support/cli.js";
import { killChild } from "../../support/kill-child.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { serverUser, waitArchived } from "../../support/recovered-cluster.js";
import { recoverRowsOfT, shellQuote, writeAroundTargetTime } from "./fixture.js";

const quote = shellQuote;

let server: TestPostgres;
let root: string;
let repo: string;
let key: string;
let restored: ChildProcess | undefined;

before(async () => {
  root = mkdtempSync(join(tmpdir(), "bulwark-pitr-"));
  chmodSync(root, 0o755);
  repo = join(root, "repo");
  key = join(root, "backup.key");
  mkdirSync(repo);
  assert.equal((await runCli(["backup", "keygen", "--out", key])).code, 0);
  // archive_command runs as the server's user: it must read the key and write the repository.
  const user = serverUser();
  if (user) {
    chownSync(repo, user.uid, user.gid);
    chownSync(key, user.uid, user.gid);
  }
  server = await startPostgres({
    settings: {
      archive_mode: "on",
      archive_command: `${quote(process.execPath)} ${quote(BIN)} wal push %p --repo ${quote(repo)} --key-file ${quote(key)}`,
    },
  });
});

after(async () => {
  await killChild(restored);
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

test("point-in-time recovery to a time between two batches of writes", async () => {
  await server.createDatabase("app");
  await server.query(
    "create table t (id int primary key); insert into t select generate_series(1, 100)",
    [],
    "app",
  );
  const base = await runCli(
    ["backup", "--base", "--db", server.url(), "--repo", repo, "--key-file", key, "--format", "json"],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(base.code, 0, base.stderr);
  const manifest = JSON.parse(base.stdout);
  assert.equal(manifest.kind, "bulwark-base-backup");
  assert.equal(manifest.archiveMode, "on");

  const { targetTime, segment } = await writeAroundTargetTime(server, "app", 30_000);
  const archived = readdirSync(join(repo, "wal"));
  assert.ok(archived.includes(`${segment}.bwenc`), archived.join(" "));
  assert.equal(
    readFileSync(join(repo, "wal", `${segment}.bwenc`))
      .subarray(0, 4)
      .toString(),
    "BWBK",
  );

  const dataDir = join(root, "restored");
  const restore = await runCli(
    [
      "restore",
      "--data-dir",
      dataDir,
      "--to-time",
      targetTime.toISOString(),
      "--repo",
      repo,
      "--key-file",
      key,
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(restore.code, 0, restore.stderr);
  assert.match(restore.stderr, new RegExp(`restored base backup ${manifest.id}`));
  const auto = readFileSync(join(dataDir, "postgresql.auto.conf"), "utf8");
  assert.match(auto, /restore_command = '\S+node \S+bulwark\.js wal fetch %f %p --repo \S+ --key-file \S+'/);
  assert.match(auto, /recovery_target_time = '/);

  const recovered = await recoverRowsOfT(server, root, dataDir, {
    timeoutMs: 60_000,
    started: (child) => {
      restored = child;
    },
  });
  const log = recovered.log;
  assert.deepEqual(recovered.rows, { n: 200, max: 200 });
  assert.match(log, /recovery stopping before commit of transaction/);
});

test("wal push is idempotent and refuses different content; wal fetch exits 1 for a missing file", async () => {
  const dir = join(root, "walcli");
  mkdirSync(dir);
  const otherRepo = join(root, "walrepo");
  const name = "0000000100000000000000AA";
  const file = join(dir, name);
  writeFileSync(file, Buffer.alloc(4096, 7));
  const push = () => runCli(["wal", "push", file, "--repo", otherRepo, "--key-file", key]);
  assert.equal((await push()).code, 0);
  assert.equal((await push()).code, 0, "archiving the same content again must succeed");
  writeFileSync(file, Buffer.alloc(4096, 8));
  const conflict = await push();
  assert.equal(conflict.code, 3);
  assert.match(conflict.stderr, /already archived with different content; refusing to overwrite/);
  const fetched = join(dir, "RECOVERYXLOG");
  assert.equal(
    (await runCli(["wal", "fetch", name, fetched, "--repo", otherRepo, "--key-file", key])).code,
    0,
  );
  assert.deepEqual(readFileSync(fetched), Buffer.alloc(4096, 7));
  const missing = await runCli([
    "wal",
    "fetch",
    "0000000100000000000000AB",
    fetched,
    "--repo",
    otherRepo,
    "--key-file",
    key,
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /is not in the archive/);
  const bad = await runCli([
    "wal",
    "push",
    join(dir, "../../etc/passwd"),
    "--repo",
    otherRepo,
    "--key-file",
    key,
  ]);
  assert.equal(bad.code, 2);
});

test("prune keeps the newest base backup and exactly the archived WAL from its start on", async () => {
  const firstIds = readdirSync(join(repo, "base"));
  assert.equal(firstIds.length, 1, "the first test's base backup");
  const client = new pg.Client({ connectionString: server.url("app") });
  await client.connect();
  await client.query("insert into t select generate_series(1001, 1100)");
  await waitArchived(
    server,
    (await client.query("select pg_walfile_name(pg_switch_wal()) as name")).rows[0].name,
    30_000,
  );
  const second = await runCli(
    ["backup", "--base", "--db", server.url(), "--repo", repo, "--key-file", key, "--format", "json"],
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(second.code, 0, second.stderr);
  const secondManifest = JSON.parse(second.stdout) as { id: string; walStartSegment: string };
  await client.query("insert into t select generate_series(1101, 1200)");
  await waitArchived(
    server,
    (await client.query("select pg_walfile_name(pg_switch_wal()) as name")).rows[0].name,
    30_000,
  );
  await client.end();

  const before = readdirSync(join(repo, "wal")).map((file) => file.replace(/\.bwenc$/, ""));
  const position = (name: string) => name.slice(8, 24);
  const cutoff = position(secondManifest.walStartSegment);
  const expectedGone = before.filter((name) => !name.endsWith(".history") && position(name) < cutoff).sort();
  assert.ok(expectedGone.length > 0, "no WAL older than the second base backup: the test proves nothing");

  const dry = await runCli([
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
  const plan = JSON.parse(dry.stdout) as { base: { decision: { remove: string[] }; wal: string[] } };
  assert.deepEqual(plan.base.decision.remove, firstIds);
  assert.deepEqual([...plan.base.wal].sort(), expectedGone);
  assert.equal(readdirSync(join(repo, "wal")).length, before.length, "--dry-run removed WAL");

  const pruned = await runCli(["backup", "prune", "--repo", repo, "--keep-last", "1"]);
  assert.equal(pruned.code, 0, pruned.stderr);
  const after = readdirSync(join(repo, "wal")).map((file) => file.replace(/\.bwenc$/, ""));
  assert.deepEqual(after.sort(), before.filter((name) => !expectedGone.includes(name)).sort());
  assert.ok(after.every((name) => name.endsWith(".history") || position(name) >= cutoff));
  assert.deepEqual(readdirSync(join(repo, "base")), [secondManifest.id]);
  const listed = await runCli(["backup", "list", "--base", "--repo", repo, "--format", "json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const listing = JSON.parse(listed.stdout) as { backups: { id: string; walStartSegment: string }[] };
  assert.deepEqual(
    listing.backups.map((backup) => [backup.id, backup.walStartSegment]),
    [[secondManifest.id, secondManifest.walStartSegment]],
  );
});

test("a drill reports the WAL archive lag next to the backup's RPO", async () => {
  const logical = await runCli(["backup", "--db", server.url("app"), "--repo", repo, "--key-file", key], {
    timeoutMs: 60_000,
  });
  assert.equal(logical.code, 0, logical.stderr);
  const drill = await runCli(
    [
      "drill",
      "restore",
      "--db",
      server.url(),
      "--repo",
      repo,
      "--key-file",
      key,
      "--no-evidence",
      "--format",
      "json",
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(drill.code, 0, drill.stderr);
  const report = JSON.parse(drill.stdout) as {
    rpo: { archive: { newestWal: string; archivedAt: string; lagMs: number } | null };
  };
  const archived = readdirSync(join(repo, "wal")).map((file) => file.replace(/\.bwenc$/, ""));
  assert.ok(report.rpo.archive, "no archive section");
  assert.ok(archived.includes(report.rpo.archive.newestWal), report.rpo.archive.newestWal);
  assert.ok(report.rpo.archive.lagMs >= 0 && report.rpo.archive.lagMs < 10 * 60_000);
  assert.match(drill.stderr, /WAL lag/);
});
