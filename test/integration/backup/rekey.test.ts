/**
 * `bulwark backup rekey` against a real PostgreSQL 15: two logical backups, a base backup and
 * archived WAL under OLD, one backup under a third key (rekey-fixture.ts). Refusals and a dry run
 * change nothing; a rekey SIGKILLed midway leaves every backup restorable with the key it names
 * and a rerun finishes; afterwards drills pass with NEW, OLD is refused with the wrong-key
 * message, and the third key's backup is untouched. Point-in-time recovery: rekey-pitr.test.ts;
 * the crash states built by hand, WAL during the transition and concurrency:
 * rekey-transition.test.ts; S3: rekey-s3.test.ts.
 */
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readKeyFile } from "../../../src/backup/backup-key.js";
import { rekeyedId } from "../../../src/backup/rekey-plan.js";
import { finished, waitForOutput } from "../../support/cli.js";
import {
  archiveWith,
  drill,
  fx,
  giveToServer,
  keyIdOf,
  listed,
  rekey,
  rekeyArgs,
  run,
  setUp,
  snapshot,
  spawnRekey,
  tearDown,
  walFiles,
} from "./rekey-fixture.js";

const { keys, ids } = fx;

before(() => setUp());
after(tearDown);

describe("bulwark backup rekey", () => {
  test("refuses a wrong old key, a new key equal to the old one and a new key readable by others; nothing changes", async () => {
    const before = snapshot(fx.repo);
    const wrong = await run(rekeyArgs(fx.repo, [], keys.stray));
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.match(
      wrong.stderr,
      new RegExp(`wrong key: nothing in \\S+ is encrypted with key ${readKeyFile(keys.stray).id}`),
    );
    assert.match(wrong.stderr, new RegExp(ids.old));
    assert.doesNotMatch(wrong.stderr, /\n\s+at /, "no stack trace");

    const same = await run(rekeyArgs(fx.repo, [], keys.old, keys.old));
    assert.equal(same.code, 2, same.stderr);
    assert.match(same.stderr, /the new key is the old key/);

    const loose = join(fx.root, "loose.key");
    copyFileSync(keys.new, loose);
    chmodSync(loose, 0o644);
    const open = await run(rekeyArgs(fx.repo, [], keys.old, loose));
    assert.equal(open.code, 2, open.stderr);
    assert.match(open.stderr, /is readable by other users \(mode 644\); run chmod 600/);

    const none = await run(["backup", "rekey", "--repo", fx.repo, "--key-file", keys.old]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no new key: pass --new-key-file FILE/);

    // Another rekey holds the lock (this test process, alive): refused.
    const lock = join(fx.repo, "rekey.lock");
    writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, host: hostname(), startedAt: "2026-11-26T00:00:00Z" }),
    );
    const busy = await rekey(fx.repo);
    assert.equal(busy.code, 3, busy.stderr);
    assert.match(busy.stderr, new RegExp(`another rekey of \\S+ is running \\(pid ${process.pid} on `));
    rmSync(lock);
    assert.deepEqual(snapshot(fx.repo), before);
  });

  test("--dry-run lists what would change and changes nothing", async () => {
    const before = snapshot(fx.repo);
    const result = await rekey(fx.repo, ["--dry-run", "--format", "json"]);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.kind, "bulwark-rekey");
    assert.equal(summary.dryRun, true);
    assert.deepEqual(
      summary.backups.converted.map((entry: { from: string }) => entry.from).sort(),
      [fx.backupA, fx.backupB].sort(),
    );
    assert.deepEqual(summary.backups.otherKeys, [{ id: fx.backupC, keyId: ids.third }]);
    assert.deepEqual(summary.base.converted, [{ from: fx.baseId, to: rekeyedId(fx.baseId, ids.new) }]);
    assert.equal(summary.wal.converted, walFiles(fx.repo).length);
    assert.ok(summary.wal.converted >= 1);
    assert.match(
      result.stderr,
      new RegExp(`would re-encrypt backup ${fx.backupA} \\(as ${rekeyedId(fx.backupA, ids.new)}\\)`),
    );
    assert.match(result.stderr, /dry run: nothing was changed/);
    assert.deepEqual(snapshot(fx.repo), before);
  });

  test("a rekey SIGKILLed midway leaves every backup restorable with its key; the rerun finishes; NEW restores, OLD is refused, the third key's backup is untouched", async () => {
    // The documented order: archive with both keys (NEW first) before re-encrypting.
    archiveWith([keys.new, keys.old]);
    const third = snapshot(join(fx.repo, fx.backupC));
    const child = spawnRekey(fx.repo);
    // Killed once the WAL and the base backup are done, as it starts on the logical backups.
    await waitForOutput(child, /base backup \S+ re-encrypted/, 30_000);
    child.kill("SIGKILL");
    await finished(child, 10_000);

    // Whatever the moment, every listed backup opens with the key it names.
    const keyFor = (keyId: string) =>
      keyId === ids.old ? keys.old : keyId === ids.new ? keys.new : keys.third;
    const midway = await listed(fx.repo);
    const present = new Set(midway.backups.map((entry) => entry.id));
    for (const id of [fx.backupA, fx.backupB])
      assert.ok(present.has(id) || present.has(rekeyedId(id, ids.new)), `${id} or its copy is listed`);
    for (const entry of midway.backups.filter((backup) => backup.id !== fx.backupC)) {
      const result = await drill(fx.repo, entry.id, keyFor(entry.encryption.keyId));
      assert.equal(result.code, 0, `${entry.id} under ${entry.encryption.keyId}: ${result.stderr}`);
    }

    const rerun = await rekey(fx.repo, ["--format", "json"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    const summary = JSON.parse(rerun.stdout);
    assert.equal(summary.complete, true, rerun.stderr);
    assert.deepEqual(summary.remaining, { backups: 0, base: 0, wal: 0 });
    giveToServer(fx.repo);

    const final = await listed(fx.repo);
    assert.deepEqual(
      final.backups.map((entry) => `${entry.id}:${entry.encryption.keyId}`).sort(),
      [
        `${rekeyedId(fx.backupA, ids.new)}:${ids.new}`,
        `${rekeyedId(fx.backupB, ids.new)}:${ids.new}`,
        `${fx.backupC}:${ids.third}`,
      ].sort(),
    );
    const base = await listed(fx.repo, true);
    assert.deepEqual(
      base.backups.map((entry) => `${entry.id}:${entry.encryption.keyId}`),
      [`${rekeyedId(fx.baseId, ids.new)}:${ids.new}`],
    );
    assert.deepEqual(snapshot(join(fx.repo, fx.backupC)), third, "the third key's backup is untouched");
    for (const name of walFiles(fx.repo)) assert.equal(keyIdOf(join(fx.repo, "wal", name)), ids.new, name);
    assert.equal(existsSync(join(fx.repo, "rekey.lock")), false);

    const latestB = rekeyedId(fx.backupB, ids.new);
    const withNew = await drill(fx.repo, latestB, keys.new);
    assert.equal(withNew.code, 0, withNew.stderr);
    assert.equal(JSON.parse(withNew.stdout).ok, true);
    const withOld = await run([
      "restore",
      latestB,
      "--to",
      await fx.server.createDatabase("scratch_old"),
      "--repo",
      fx.repo,
      "--key-file",
      keys.old,
    ]);
    assert.equal(withOld.code, 3);
    assert.match(
      withOld.stderr,
      new RegExp(
        `wrong key: backup ${latestB} was encrypted with key ${ids.new}, the key given is ${ids.old}`,
      ),
    );

    // A second rerun has nothing to do.
    const idle = await rekey(fx.repo, ["--format", "json"]);
    assert.equal(idle.code, 0, idle.stderr);
    assert.equal(JSON.parse(idle.stdout).backups.converted.length, 0);
  });
});
