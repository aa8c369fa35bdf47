/**
 * Faults of an S3 repository, through the built CLI, against a real PostgreSQL 15 and a real
 * S3-compatible server (s3rver): an upload killed or failing halfway leaves no complete backup;
 * wrong credentials, a missing bucket and an unreachable endpoint are clear errors with exit 3.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { finished, spawnCli } from "../../support/cli.js";
import { s3FaultProxy, type TestS3 } from "../../support/s3.js";
import { type BackupFixture, startBackupFixture } from "./fixture.js";

let fx: BackupFixture;
let s3: TestS3;
let dir: string;
let repo: string;

const run = (args: string[], env: Record<string, string> = {}, timeoutMs?: number) =>
  fx.run(args, { env, timeoutMs });

const listed = (repository: string) => fx.list({ repo: repository });

before(async () => {
  fx = await startBackupFixture({
    prefix: "bulwark-s3-faults-",
    s3Prefix: "prod/db",
    // md5 output does not compress: about 13 MB of dump, three 5 MiB parts.
    seed: `create table blobs (id int primary key, b bytea);
     insert into blobs select g, decode(md5(g::text) || md5((g * 7)::text), 'hex') from generate_series(1, 400000) g;`,
  });
  ({ dir, repo } = fx);
  s3 = fx.s3!;
});

after(() => fx?.close());

describe("S3 faults leave nothing marked complete", () => {
  test("a backup SIGKILLed during its multipart upload is not listed; prune removes what it left", async () => {
    const killRepo = `s3://${s3.bucket}/killed`;
    let child: ReturnType<typeof spawnCli> | undefined;
    const proxy = await s3FaultProxy(s3, (count) => {
      if (count === 2) child?.kill("SIGKILL");
    });
    try {
      child = spawnCli(fx.backupArgs(["-c", partSizeConfig("killed")], { repo: killRepo }), {
        env: { PGPASSWORD: "", DATABASE_URL: "", ...s3.env(), AWS_ENDPOINT_URL: proxy.endpoint },
      });
      const result = await finished(child, 90_000);
      assert.equal(result.signal, "SIGKILL", `the backup finished before it was killed: ${result.stderr}`);
    } finally {
      await proxy.close();
    }
    const listing = await listed(killRepo);
    assert.deepEqual(listing.backups, []);
    assert.equal(listing.incomplete.length, 1);
    assert.equal(listing.incomplete[0]!.live, false);
    const prune = await run(["backup", "prune", "--repo", killRepo, "--keep-last", "1"]);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stderr, /\(incomplete\)/);
    assert.deepEqual(await listed(killRepo), { repository: killRepo, backups: [], incomplete: [] });
  });

  test("an endpoint that goes away mid-upload: exit 3 backup_repo_unreachable, no complete backup", async () => {
    const failRepo = `s3://${s3.bucket}/failed`;
    const proxy = await s3FaultProxy(s3, (count) => {
      if (count === 2) proxy.cut();
    });
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(fx.backupArgs(["-c", partSizeConfig("failed")], { repo: failRepo }), {
        AWS_ENDPOINT_URL: proxy.endpoint,
      });
    } finally {
      await proxy.close();
    }
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:\d+ to upload/);
    const listing = await listed(failRepo);
    assert.deepEqual(listing.backups, [], "a failed upload must not yield a complete backup");
    // The repository was unreachable, so the partial backup could not be removed: it is incomplete.
    assert.ok(listing.incomplete.every((entry) => !entry.live));
  });

  test("pg_dump failing after some output: the artifact is never completed in the bucket", async () => {
    // A pg_dump that starts a valid archive, writes 6 MiB (more than one 5 MiB part), then fails.
    const fakeBin = join(dir, "fake-bin");
    mkdirSync(fakeBin);
    writeFileSync(
      join(fakeBin, "pg_dump"),
      '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 15.99"; exit 0; fi\nprintf PGDMP\nhead -c 6291456 /dev/urandom\necho "pg_dump: error: simulated failure" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const failRepo = `s3://${s3.bucket}/dumpfail`;
    const proxy = await s3FaultProxy(s3);
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(
        fx.backupArgs(["--pg-bin", fakeBin, "-c", partSizeConfig("dumpfail")], { repo: failRepo }),
        { AWS_ENDPOINT_URL: proxy.endpoint },
      );
    } finally {
      await proxy.close();
    }
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /pg_dump failed \(exit 1\)/);
    assert.match(result.stderr, /simulated failure/);
    const artifactWrites = proxy.requests.filter(
      (line) => line.includes("/dump.bwenc") && (line.startsWith("PUT ") || /^POST .*uploadId=/.test(line)),
    );
    // Parts went up (the stream was large), but neither a single PUT nor CompleteMultipartUpload.
    assert.ok(
      proxy.requests.some((line) => /partNumber=1/.test(line)),
      proxy.requests.join("\n"),
    );
    assert.deepEqual(
      artifactWrites.filter((line) => !/partNumber=/.test(line)),
      [],
      "the artifact was completed",
    );
    assert.deepEqual(await listed(failRepo), { repository: failRepo, backups: [], incomplete: [] });
  });

  test("wrong credentials, a missing bucket and an unreachable endpoint: exit 3 with what, where and how to fix", async () => {
    // s3rver checks the access key id (it knows one), not the signature.
    const denied = await run(["backup", "list", "--repo", repo], {
      AWS_ACCESS_KEY_ID: "AKIAWRONGKEY",
      AWS_SECRET_ACCESS_KEY: "not-the-secret",
    });
    assert.equal(denied.code, 3, denied.stderr);
    assert.match(
      denied.stderr,
      /access to s3:\/\/bulwark-test\/prod\/db at http:\/\/127\.0\.0\.1:\d+ was denied \(InvalidAccessKeyId\)/,
    );
    assert.match(denied.stderr, /check the credentials/);
    assert.ok(!denied.stderr.includes("not-the-secret"));

    const missing = await run(fx.backupArgs([], { repo: "s3://no-such-bucket/x" }));
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /the bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(missing.stderr, /create the bucket/);

    const unreachable = await run(["backup", "list", "--repo", repo], {
      AWS_ENDPOINT_URL: "http://127.0.0.1:9",
    });
    assert.equal(unreachable.code, 3, unreachable.stderr);
    assert.match(
      unreachable.stderr,
      /cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:9 to list s3:\/\/bulwark-test\/prod\/db \(ECONNREFUSED\)/,
    );

    const noCredentials = await run(["backup", "list", "--repo", repo], {
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
    });
    assert.equal(noCredentials.code, 2, noCredentials.stderr);
    assert.match(noCredentials.stderr, /no S3 credentials for s3:\/\/bulwark-test\/prod\/db/);
  });
});

/** A config with 5 MiB parts, so the 13 MB dump is a multipart upload of three parts. */
function partSizeConfig(name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, "backup:\n  s3:\n    partSizeMiB: 5\n");
  return file;
}
