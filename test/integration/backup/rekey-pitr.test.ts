/**
 * Point-in-time recovery and key rotation (rekey-fixture.ts, a real PostgreSQL 15), each part on
 * its own server and repository:
 *
 * - after `bulwark backup rekey`: a base backup and WAL archived under OLD are re-encrypted while
 *   archive_command archives with both keys (NEW first, the documented order); WAL archived after
 *   it is under NEW, and `bulwark restore --data-dir` with NEW alone recovers every row, through
 *   WAL from before and after the rekey;
 * - during the rotation, without a rekey: the base backup and the WAL after it are under OLD, later
 *   WAL under NEW. `bulwark restore --data-dir` given both keys opens the base backup with the key
 *   it names and writes a restore_command passing both key files to `wal fetch`; the recovered
 *   cluster has every row, so WAL under each key was read. The OLD key file's path holds a space,
 *   a single quote and a percent sign: quoted for the shell and for postgresql.conf, as
 *   PostgreSQL runs restore_command through /bin/sh.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  archiveWith,
  fx,
  giveToServer,
  keyIdOf,
  recoveredRows,
  rekey,
  run,
  setUp,
  switchWal,
  tearDown,
  walFiles,
} from "./rekey-fixture.js";

const { keys, ids } = fx;

describe("after the rekey", () => {
  before(() => setUp({ logical: false }));
  after(tearDown);

  test("point-in-time recovery with NEW after the rekey, through WAL archived before and after it", async () => {
    archiveWith([keys.new, keys.old]);
    const before = walFiles(fx.repo);
    assert.ok(before.length >= 1);
    for (const name of before) assert.equal(keyIdOf(join(fx.repo, "wal", name)), ids.old, name);
    const result = await rekey(fx.repo, ["--format", "json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).wal.converted, before.length);
    giveToServer(fx.repo);

    await fx.server.query("insert into t select generate_series(301, 400)", [], "app");
    await switchWal();
    for (const name of walFiles(fx.repo)) assert.equal(keyIdOf(join(fx.repo, "wal", name)), ids.new, name);
    const dataDir = join(fx.root, "recovered");
    const restore = await run(["restore", "--data-dir", dataDir, "--repo", fx.repo, "--key-file", keys.new]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await recoveredRows(dataDir), { n: 400, max: 400 });
  });
});

describe("during the key rotation", () => {
  before(() => setUp({ logical: false }));
  after(tearDown);

  test("restore --data-dir with the old and the new key recovers through WAL archived under each", async () => {
    archiveWith([keys.new, keys.old]);
    await fx.server.query("insert into t select generate_series(301, 400)", [], "app");
    await switchWal();
    const byKey = walFiles(fx.repo).map((name) => keyIdOf(join(fx.repo, "wal", name)));
    assert.ok(byKey.includes(ids.old) && byKey.includes(ids.new), `WAL under both keys: ${byKey.join(", ")}`);

    const oddOld = join(fx.root, "o'ld key 100%.key");
    copyFileSync(keys.old, oddOld);
    giveToServer(oddOld);

    // The new key alone cannot open the base backup (under OLD): refused before anything is written.
    const newOnly = join(fx.root, "recovered-new-only");
    const refused = await run(["restore", "--data-dir", newOnly, "--repo", fx.repo, "--key-file", keys.new]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `wrong key: backup ${fx.baseId} was encrypted with key ${ids.old}, the key given is ${ids.new}`,
      ),
    );
    assert.equal(existsSync(newOnly), false);

    // A logical restore takes one key: several are refused as a usage error.
    const logical = await run([
      "restore",
      "latest",
      "--to",
      fx.server.url("app"),
      "--repo",
      fx.repo,
      "--key-file",
      keys.new,
      "--key-file",
      keys.old,
    ]);
    assert.equal(logical.code, 2, logical.stderr);
    assert.match(logical.stderr, /--key-file is given once for a logical restore/);

    const dataDir = join(fx.root, "recovered");
    const restore = await run([
      "restore",
      "--data-dir",
      dataDir,
      "--repo",
      fx.repo,
      "--key-file",
      keys.new,
      "--key-file",
      oddOld,
    ]);
    assert.equal(restore.code, 0, restore.stderr);
    const line = readFileSync(join(dataDir, "postgresql.auto.conf"), "utf8")
      .split("\n")
      .find((setting) => setting.startsWith("restore_command = "));
    assert.ok(line, "restore_command written");
    // Both key files, in the order given; the odd path single-quoted for the shell (its quote
    // written '\''), then as a postgresql.conf literal (quotes and the backslash doubled), its %
    // doubled for PostgreSQL's %f/%p substitution.
    assert.ok(line.includes(`--key-file ${keys.new} --key-file ''`), line);
    assert.ok(line.includes(`/o''\\\\''''ld key 100%%.key''`), line);

    assert.deepEqual(await recoveredRows(dataDir), { n: 400, max: 400 });
  });
});
