/**
 * `bulwark backup rekey` on an S3 repository (s3rver on a loopback port, a real PostgreSQL 15):
 * a backup and an archived WAL file under OLD are re-encrypted in the bucket; a drill with NEW
 * passes, OLD is refused, the original is gone and the WAL file fetches with NEW. A prune of the
 * bucket while a live rekey holds its `rekey.lock` object removes nothing; a dead holder's lock
 * is taken over.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { REKEY_LOCK } from "../../../src/backup/rekey-lock.js";
import { rekeyedId } from "../../../src/backup/rekey-plan.js";
import { openStore } from "../../../src/backup/repository.js";
import { runCli } from "../../support/cli.js";
import { startS3, type TestS3 } from "../../support/s3.js";
import { backup, drillArgs, fx, rekeyArgs, setUp, tearDown } from "./rekey-fixture.js";

const { keys, ids } = fx;

before(() => setUp({ backups: false }));
after(tearDown);

describe("bulwark backup rekey on S3", () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startS3();
  });
  after(async () => {
    await s3?.close();
  });

  test("re-encrypts a backup and archived WAL in a bucket; drill with NEW passes, OLD is refused", async () => {
    const env = { PGPASSWORD: "", DATABASE_URL: "", ...s3.env() };
    const s3run = (args: string[]) => runCli(args, { timeoutMs: 90_000, env });
    const bucket = `s3://${s3.bucket}/rekey`;
    const id = await backup(keys.old, bucket, [], env);
    const segment = join(fx.root, "000000010000000000000077");
    writeFileSync(segment, Buffer.alloc(70_000, 9));
    assert.equal((await s3run(["wal", "push", segment, "--repo", bucket, "--key-file", keys.old])).code, 0);

    const result = await s3run(rekeyArgs(bucket, ["--format", "json"]));
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.complete, true);
    assert.deepEqual(summary.backups.converted, [{ from: id, to: rekeyedId(id, ids.new) }]);
    assert.equal(summary.wal.converted, 1);

    const twin = rekeyedId(id, ids.new);
    const drilled = await s3run(drillArgs(bucket, twin, keys.new));
    assert.equal(drilled.code, 0, drilled.stderr);
    const refused = await s3run(drillArgs(bucket, twin, keys.old));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /wrong key/);
    const gone = await s3run(["backup", "show", id, "--repo", bucket]);
    assert.equal(gone.code, 3, "the original is removed");
    const fetched = join(fx.root, "fetched-77");
    assert.equal(
      (
        await s3run([
          "wal",
          "fetch",
          "000000010000000000000077",
          fetched,
          "--repo",
          bucket,
          "--key-file",
          keys.new,
        ])
      ).code,
      0,
    );
    assert.deepEqual(readFileSync(fetched), Buffer.alloc(70_000, 9));
    const listing = await s3run(["backup", "list", "--repo", bucket, "--format", "json"]);
    assert.deepEqual(JSON.parse(listing.stdout).incomplete, []);
  });

  test("prune of a bucket removes nothing while a rekey holds rekey.lock, and takes over a dead holder's", async () => {
    const env = { PGPASSWORD: "", DATABASE_URL: "", ...s3.env() };
    const s3run = (args: string[]) => runCli(args, { timeoutMs: 90_000, env });
    const bucket = `s3://${s3.bucket}/prune-lock`;
    const made = [await backup(keys.old, bucket, [], env), await backup(keys.old, bucket, [], env)];
    const store = openStore(bucket, {}, s3.env());
    const listedIds = async () =>
      JSON.parse((await s3run(["backup", "list", "--repo", bucket, "--format", "json"])).stdout).backups.map(
        (entry: { id: string }) => entry.id,
      );
    const prune = () => s3run(["backup", "prune", "--repo", bucket, "--keep-last", "1"]);
    // This test process stands for a live rekey on this host.
    await store.put(REKEY_LOCK, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: "x" }));
    const refused = await prune();
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, new RegExp(`a rekey of s3://\\S+ is running \\(pid ${process.pid} on `));
    assert.deepEqual(await listedIds(), made);
    const dead = spawnSync("true").pid!;
    await store.put(REKEY_LOCK, JSON.stringify({ pid: dead, host: hostname(), startedAt: "x" }));
    const pruned = await prune();
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(await listedIds(), [made[1]]);
    assert.equal(await store.get(REKEY_LOCK), null, "the prune released the lock it took over");
  });
});
