/**
 * `bulwark backup rekey` next to other commands (rekey-fixture.ts, a real PostgreSQL 15): a
 * backup with the old key and a prune running during a rekey break nothing (the prune is refused
 * while the rekey holds its lock); a backup made
 * meanwhile under OLD is reported as remaining (exit 1) or converted, and a rerun finishes. One
 * of the backups is a split backup (`--jobs 2`, several artifacts): its copy restores too.
 */
import assert from "node:assert/strict";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { rekeyedId } from "../../../src/backup/rekey-plan.js";
import { finished, waitForOutput } from "../../support/cli.js";
import { backup, drill, fx, listed, rekey, run, setUp, spawnRekey, tearDown } from "./rekey-fixture.js";

const { keys, ids } = fx;

before(() => setUp({ base: false }));
after(tearDown);

test("a backup with the old key and a prune running during a rekey: nothing breaks, the rekey reports what is left and a rerun finishes", async () => {
  const copy = join(fx.root, "concurrent");
  cpSync(fx.repo, copy, { recursive: true });
  // Give the rekey something to do: two more backups under OLD in the copy, the first a split
  // backup (`--jobs 2`: a schema artifact and a data artifact of the big table).
  await fx.server.query(
    "create table big (id int primary key, b text); insert into big select g, md5(g::text) from generate_series(1, 50000) g",
    [],
    "app",
  );
  const made: string[] = [];
  for (let index = 0; index < 2; index++) {
    made.push(await backup(keys.old, copy, index === 0 ? ["--jobs", "2"] : []));
  }
  const rekeying = spawnRekey(copy, ["--format", "json"]);
  await waitForOutput(rekeying, /re-encrypting /, 20_000);
  const [during, pruned] = await Promise.all([
    run(["backup", "--db", fx.server.url("app"), "--repo", copy, "--key-file", keys.old, "--format", "json"]),
    run(["backup", "prune", "--repo", copy, "--keep-last", "20", "--format", "json"]),
  ]);
  // The rekey may have exited already (finished() waits for an exit event still to come).
  const first =
    rekeying.exitCode !== null
      ? { code: rekeying.exitCode, ...rekeying.output() }
      : await finished(rekeying, 90_000);
  assert.equal(during.code, 0, during.stderr);
  // A prune while the rekey holds rekey.lock removes nothing and says why (prune-lock.test.ts);
  // one that came after the rekey ended prunes (nothing here: keep-last 20).
  if (pruned.code !== 0) {
    assert.equal(pruned.code, 3, pruned.stderr);
    assert.match(pruned.stderr, /a rekey of \S+ is running \(pid \d+ .*\); prune removes nothing meanwhile/);
  }
  assert.ok(first.code === 0 || first.code === 1, `${first.code}: ${first.stderr}`);
  const duringId = JSON.parse(during.stdout).id as string;
  const summary = JSON.parse(first.stdout);
  // The backup made meanwhile under OLD is either re-encrypted (listed in time) or reported as left.
  if (first.code === 1) {
    assert.equal(summary.complete, false);
    assert.equal(summary.remaining.backups, 1);
    assert.match(first.stderr, /still under key .* run the same command again/);
  }
  const second = await rekey(copy, ["--format", "json"]);
  assert.equal(second.code, 0, second.stderr);
  const listing = await listed(copy);
  assert.deepEqual(listing.incomplete, []);
  const expected = [fx.backupA, fx.backupB, ...made, duringId].map(
    (id) => `${rekeyedId(id, ids.new)}:${ids.new}`,
  );
  assert.deepEqual(
    listing.backups.map((entry) => `${entry.id}:${entry.encryption.keyId}`).sort(),
    [...expected, `${fx.backupC}:${ids.third}`].sort(),
  );
  const drilled = await drill(copy, rekeyedId(duringId, ids.new), keys.new);
  assert.equal(drilled.code, 0, drilled.stderr);
  // The split backup's copy names the same artifacts, each re-encrypted, and restores.
  const split = await run([
    "backup",
    "show",
    rekeyedId(made[0]!, ids.new),
    "--repo",
    copy,
    "--format",
    "json",
  ]);
  const manifest = JSON.parse(split.stdout);
  assert.equal(manifest.formatVersion, 2);
  assert.deepEqual(manifest.artifacts.map((artifact: { name: string }) => artifact.name).sort(), [
    "data-0001.bwenc",
    "schema.bwenc",
  ]);
  const splitDrill = await drill(copy, manifest.id, keys.new);
  assert.equal(splitDrill.code, 0, splitDrill.stderr);
  rmSync(copy, { recursive: true, force: true });
});
