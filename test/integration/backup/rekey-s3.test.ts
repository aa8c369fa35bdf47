/**
 * `bulwark backup rekey` on an S3 repository (s3rver on a loopback port, a real PostgreSQL 15):
 * a backup and an archived WAL file under OLD are re-encrypted in the bucket; a drill with NEW
 * passes, OLD is refused, the original is gone and the WAL file fetches with NEW.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { rekeyedId } from "../../../src/backup/rekey-plan.js";
import { runCli } from "../../support/cli.js";
import { startS3, type TestS3 } from "../../support/s3.js";
import { fx, setUp, tearDown } from "./rekey-fixture.js";

const { keys, ids } = fx;
let s3: TestS3;

before(async () => {
  [s3] = await Promise.all([startS3(), setUp({ backups: false })]);
});
after(async () => {
  await Promise.all([s3?.close(), tearDown()]);
});

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
    const made = await s3run([
      "backup",
      "--db",
      fx.server.url("app"),
      "--repo",
      bucket,
      "--key-file",
      keys.old,
      "--format",
      "json",
    ]);
    assert.equal(made.code, 0, made.stderr);
    const id = JSON.parse(made.stdout).id as string;
    const segment = join(fx.root, "000000010000000000000077");
    writeFileSync(segment, Buffer.alloc(70_000, 9));
    assert.equal((await s3run(["wal", "push", segment, "--repo", bucket, "--key-file", keys.old])).code, 0);

    const result = await s3run([
      "backup",
      "rekey",
      "--repo",
      bucket,
      "--key-file",
      keys.old,
      "--new-key-file",
      keys.new,
      "--format",
      "json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.complete, true);
    assert.deepEqual(summary.backups.converted, [{ from: id, to: rekeyedId(id, ids.new) }]);
    assert.equal(summary.wal.converted, 1);

    const twin = rekeyedId(id, ids.new);
    const drilled = await s3run([
      "drill",
      "restore",
      "--id",
      twin,
      "--db",
      fx.server.url(),
      "--repo",
      bucket,
      "--key-file",
      keys.new,
      "--no-evidence",
    ]);
    assert.equal(drilled.code, 0, drilled.stderr);
    const refused = await s3run([
      "drill",
      "restore",
      "--id",
      twin,
      "--db",
      fx.server.url(),
      "--repo",
      bucket,
      "--key-file",
      keys.old,
      "--no-evidence",
    ]);
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
});
