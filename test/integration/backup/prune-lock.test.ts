/**
 * `bulwark backup prune` and `bulwark backup` next to a rekey's `rekey.lock` (rekey-fixture.ts: a
 * real PostgreSQL 15 archiving WAL into a local repository with logical backups, a base backup
 * and WAL). A prune removes nothing while a live process holds the lock, takes over the lock of a
 * dead one exactly as a rekey does, and releases it; a backup goes on during a rekey, with a note.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  baseBackup,
  fx,
  listed,
  run,
  setUp,
  snapshot,
  switchWal,
  tearDown,
  walFiles,
} from "./rekey-fixture.js";

before(() => setUp());
after(tearDown);

const lockFile = () => join(fx.repo, "rekey.lock");

/** A rekey.lock as `bulwark backup rekey` writes it (its lock names no operation before prune took it too). */
function holdLock(pid: number, host = hostname()): void {
  writeFileSync(lockFile(), JSON.stringify({ pid, host, startedAt: "2026-11-26T00:00:00Z" }));
}

/**
 * Every file of `before` but the lock is still there, unchanged (the archiver may add WAL meanwhile: a base
 * backup's history file is archived when the archiver gets to it).
 */
function assertNothingRemoved(before: Record<string, string>): void {
  const now = snapshot(fx.repo);
  for (const [file, sha256] of Object.entries(before))
    if (file !== "rekey.lock") assert.equal(now[file], sha256, file);
}

function prune(extra: string[] = []) {
  return run(["backup", "prune", "--repo", fx.repo, "--keep-last", "1", "--format", "json", ...extra]);
}

test("prune removes nothing while a rekey holds rekey.lock, and takes over a dead holder's lock", async () => {
  // A second base backup after more WAL: the prune would remove the first and the WAL before it.
  await fx.server.query("insert into t select generate_series(301, 400)", [], "app");
  await switchWal();
  const second = await baseBackup(fx.keys.old);
  await switchWal(); // the segment the base backup ended in is archived before the snapshot below
  // This test process stands for a live rekey on this host.
  holdLock(process.pid);
  const untouched = snapshot(fx.repo);
  const refused = await prune();
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(
      `a rekey of \\S+ is running \\(pid ${process.pid} on ${hostname()} since 2026-11-26T00:00:00Z\\); prune removes nothing meanwhile: run it again after that, or if it is gone, remove \\S+/rekey\\.lock`,
    ),
  );
  assert.equal(refused.stdout, "");
  assertNothingRemoved(untouched);

  // A holder on another host cannot be checked: refused too.
  holdLock(process.pid, "elsewhere.example");
  const elsewhere = await prune();
  assert.equal(elsewhere.code, 3, elsewhere.stderr);
  assert.match(elsewhere.stderr, /a rekey of \S+ is running \(pid \d+ on elsewhere\.example since /);
  assertNothingRemoved(untouched);

  // A dry run removes nothing and needs no lock: it shows what the prune will do.
  const dry = await prune(["--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  const planned = JSON.parse(dry.stdout);
  assert.equal(planned.dryRun, true);
  assert.deepEqual([...planned.decision.remove].sort(), [fx.backupA, fx.backupB].sort());
  assert.deepEqual(planned.base.decision.remove, [fx.baseId]);

  // The holder is a dead process on this host (a rekey killed with SIGKILL): taken over.
  const dead = spawnSync("true").pid!;
  holdLock(dead);
  const walBefore = walFiles(fx.repo);
  const pruned = await prune();
  assert.equal(pruned.code, 0, pruned.stderr);
  const done = JSON.parse(pruned.stdout);
  assert.equal(done.dryRun, false);
  assert.deepEqual([...done.decision.remove].sort(), [fx.backupA, fx.backupB].sort());
  assert.deepEqual(done.base.decision.remove, [fx.baseId]);
  assert.deepEqual(done.base.wal, planned.base.wal);
  assert.equal(existsSync(lockFile()), false, "the prune released the lock it took over");
  const listing = await listed(fx.repo);
  assert.deepEqual(
    listing.backups.map((entry) => entry.id),
    [fx.backupC],
  );
  assert.deepEqual(
    (await listed(fx.repo, true)).backups.map((entry) => entry.id),
    [second],
  );
  assert.ok(planned.base.wal.length >= 1, "WAL from before the base backup is pruned");
  const walAfter = walFiles(fx.repo);
  for (const name of walBefore) {
    const removed = done.base.wal.includes(name.replace(/\.bwenc$/, ""));
    assert.equal(walAfter.includes(name), !removed, name);
  }
});

test("a backup during a rekey is made and listed, with a note that the rekey reports it as remaining", async () => {
  holdLock(process.pid);
  const made = await run([
    "backup",
    "--db",
    fx.server.url("app"),
    "--repo",
    fx.repo,
    "--key-file",
    fx.keys.old,
    "--format",
    "json",
  ]);
  assert.equal(made.code, 0, made.stderr);
  assert.match(
    made.stderr,
    new RegExp(
      `note: a rekey of \\S+ is running \\(pid ${process.pid} on ${hostname()} since [^)]*\\); a backup made with the key it replaces stays under that key and the rekey reports it as remaining`,
    ),
  );
  const id = JSON.parse(made.stdout).id as string;
  assert.ok((await listed(fx.repo)).backups.some((entry) => entry.id === id));
  assert.ok(existsSync(lockFile()), "a backup leaves the rekey's lock alone");
});
