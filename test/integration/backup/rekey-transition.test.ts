/**
 * `bulwark backup rekey` across its transition (rekey-fixture.ts: backups under OLD and a third
 * key, archived WAL): the states a SIGKILL leaves at each step, built by hand from a fully
 * re-encrypted copy, are restorable with either key and a rerun finishes them; `wal fetch` and
 * `wal push` with both keys read segments under either; Ctrl-C stops cleanly with a partial
 * summary. Concurrency: rekey-concurrency.test.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readKeyFile } from "../../../src/backup/backup-key.js";
import { LocalObjectStore } from "../../../src/backup/local-object-store.js";
import { rekeyedId } from "../../../src/backup/rekey-plan.js";
import { fetchWal, pushWal } from "../../../src/backup/wal-archive.js";
import { finished, waitForOutput } from "../../support/cli.js";
import {
  drill,
  fx,
  keyIdOf,
  listed,
  rekey,
  run,
  setUp,
  spawnRekey,
  tearDown,
  walArgs,
  walFiles,
} from "./rekey-fixture.js";

const { keys, ids } = fx;

before(() => setUp());
after(tearDown);

describe("bulwark backup rekey: the transition", () => {
  test("the states a SIGKILL leaves are restorable with either key, WAL push/fetch take both keys, and a rerun finishes", async () => {
    // Two copies of the untouched repository: one fully re-encrypted, one assembled from both as a
    // rekey killed at various points leaves it.
    const converted = join(fx.root, "converted");
    const crashed = join(fx.root, "crashed");
    cpSync(fx.repo, converted, { recursive: true });
    cpSync(fx.repo, crashed, { recursive: true });
    const full = await rekey(converted, ["--format", "json"]);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(JSON.parse(full.stdout).complete, true);

    // A: its copy committed, the original not yet removed. B: its copy half-written by a process
    // that is gone. WAL: every other segment replaced.
    const twinA = rekeyedId(fx.backupA, ids.new);
    const twinB = rekeyedId(fx.backupB, ids.new);
    cpSync(join(converted, twinA), join(crashed, twinA), { recursive: true });
    mkdirSync(join(crashed, twinB));
    const dead = spawnSync("true").pid;
    writeFileSync(
      join(crashed, twinB, "in-progress.json"),
      JSON.stringify({ pid: dead, host: hostname(), startedAt: new Date().toISOString() }),
    );
    writeFileSync(
      join(crashed, twinB, "dump.bwenc"),
      readFileSync(join(converted, twinB, "dump.bwenc")).subarray(0, 1000),
    );
    const segments = walFiles(fx.repo);
    const swapped = segments.filter((_name, index) => index % 2 === 0);
    for (const name of swapped) copyFileSync(join(converted, "wal", name), join(crashed, "wal", name));
    const untouched = segments.find((name) => !swapped.includes(name));

    const listing = await listed(crashed);
    assert.deepEqual(
      listing.backups.map((entry) => entry.id).sort(),
      [fx.backupA, fx.backupB, fx.backupC, twinA].sort(),
    );
    assert.deepEqual(
      listing.incomplete.map((entry) => entry.id),
      [twinB],
    );
    const drillA = await drill(crashed, fx.backupA, keys.old);
    assert.equal(drillA.code, 0, drillA.stderr);
    const drillTwin = await drill(crashed, twinA, keys.new);
    assert.equal(drillTwin.code, 0, drillTwin.stderr);

    // WAL during the transition: fetch and push with both keys read either kind of segment.
    const scratch = join(fx.root, "scratch");
    mkdirSync(scratch);
    for (const file of [swapped[0]!, untouched].filter((name): name is string => name !== undefined)) {
      const name = file.slice(0, -".bwenc".length);
      assert.notEqual(keyIdOf(join(crashed, "wal", file)), "");
      const out = join(scratch, name);
      const both = await run(walArgs("fetch", [name, out], crashed, [keys.new, keys.old]));
      assert.equal(both.code, 0, both.stderr);
      const fromOld = join(scratch, `${name}.old`);
      assert.equal(
        (await run(["wal", "fetch", name, fromOld, "--repo", fx.repo, "--key-file", keys.old])).code,
        0,
      );
      assert.deepEqual(readFileSync(out), readFileSync(fromOld));
      const again = await run(walArgs("push", [out], crashed, [keys.new, keys.old]));
      assert.equal(
        again.code,
        0,
        `archiving the same content again succeeds under either key: ${again.stderr}`,
      );
    }
    const oldOnly = await run([
      "wal",
      "fetch",
      swapped[0]!.slice(0, -6),
      join(scratch, "x"),
      "--repo",
      crashed,
      "--key-file",
      keys.old,
    ]);
    assert.equal(oldOnly.code, 3);
    assert.match(
      oldOnly.stderr,
      new RegExp(
        `wrong key: the archived \\S+ was encrypted with key ${ids.new}, the key given is ${ids.old}`,
      ),
    );

    const rerun = await rekey(crashed, ["--format", "json"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    const summary = JSON.parse(rerun.stdout);
    assert.equal(summary.complete, true);
    assert.deepEqual(summary.removedOrphans, [twinB]);
    assert.deepEqual(
      summary.backups.converted
        .map((entry: { from: string; to: string }) => `${entry.from}>${entry.to}`)
        .sort(),
      [`${fx.backupA}>${twinA}`, `${fx.backupB}>${twinB}`].sort(),
    );
    assert.equal(summary.wal.converted, segments.length - swapped.length);
    const after = await listed(crashed);
    assert.deepEqual(after.backups.map((entry) => entry.id).sort(), [fx.backupC, twinA, twinB].sort());
    assert.deepEqual(after.incomplete, []);
    for (const name of walFiles(crashed)) assert.equal(keyIdOf(join(crashed, "wal", name)), ids.new, name);
    // The drill above left its record; no marker, no leftover artifact.
    assert.deepEqual(readdirSync(join(crashed, twinA)).sort(), [
      "dump.bwenc",
      "manifest.json",
      "verified.json",
    ]);
    assert.deepEqual(readdirSync(join(crashed, twinB)).sort(), ["dump.bwenc", "manifest.json"]);
    rmSync(crashed, { recursive: true, force: true });

    // A committed copy whose artifact a prune on another host removed (it saw the copy's marker
    // as abandoned): the original is kept, the broken copy unlisted, and the next run redoes it.
    const pruned = join(fx.root, "pruned");
    cpSync(fx.repo, pruned, { recursive: true });
    cpSync(join(converted, twinA), join(pruned, twinA), { recursive: true });
    rmSync(join(pruned, twinA, "dump.bwenc"));
    const refused = await rekey(pruned, ["--format", "json"]);
    assert.equal(refused.code, 1, refused.stderr);
    const failed = JSON.parse(refused.stdout).backups.failed;
    assert.equal(failed.length, 1);
    assert.equal(failed[0].id, fx.backupA);
    assert.match(
      failed[0].message,
      /copy \S+ of backup \S+ is gone or incomplete .* is kept under the old key/,
    );
    const keptIds = (await listed(pruned)).backups.map((entry) => entry.id);
    assert.ok(keptIds.includes(fx.backupA) && !keptIds.includes(twinA), keptIds.join(" "));
    const redone = await rekey(pruned, ["--format", "json"]);
    assert.equal(redone.code, 0, redone.stderr);
    assert.deepEqual(JSON.parse(redone.stdout).backups.converted, [{ from: fx.backupA, to: twinA }]);
    rmSync(pruned, { recursive: true, force: true });
    rmSync(converted, { recursive: true, force: true });
  });

  test("Ctrl-C (SIGINT) stops a rekey with exit 130 and a partial summary; every WAL file is whole under one key; a rerun finishes", async () => {
    const archive = join(fx.root, "interrupted");
    const store = new LocalObjectStore(archive);
    const oldKey = readKeyFile(keys.old);
    const content = new Map<string, Buffer>();
    for (let index = 0; index < 96; index++) {
      const name = `0000000100000001000000${index.toString(16).toUpperCase().padStart(2, "0")}`;
      const bytes = randomBytes(1024 * 1024);
      writeFileSync(join(fx.root, name), bytes);
      await pushWal(store, oldKey, join(fx.root, name));
      rmSync(join(fx.root, name));
      content.set(name, bytes);
    }
    const child = spawnRekey(archive, ["--format", "json"]);
    await waitForOutput(child, /re-encrypting /, 20_000);
    child.kill("SIGINT");
    const stopped = await finished(child, 30_000);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /interrupted; stopping after cleaning up the item in progress/);
    const partial = JSON.parse(stopped.stdout);
    assert.equal(partial.interrupted, true);
    assert.equal(partial.complete, false);
    assert.equal(partial.wal.converted + partial.remaining.wal, 96);
    // Every file opens, with the key it names, to what was archived.
    const bothKeys = [readKeyFile(keys.new), oldKey];
    for (const [name, bytes] of content) {
      const out = join(fx.root, "fetched");
      assert.equal(await fetchWal(store, bothKeys, name, out), true);
      assert.deepEqual(readFileSync(out), bytes, name);
    }
    const rerun = await rekey(archive, ["--format", "json"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(JSON.parse(rerun.stdout).wal.converted, partial.remaining.wal);
    for (const name of walFiles(archive)) assert.equal(keyIdOf(join(archive, "wal", name)), ids.new, name);
    rmSync(archive, { recursive: true, force: true });
  });
});
