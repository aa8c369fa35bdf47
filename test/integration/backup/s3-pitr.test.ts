/**
 * Point-in-time recovery through an S3 repository, against a real PostgreSQL 15 and a real
 * S3-compatible server (s3rver): the server's archive_command runs `bulwark wal push %p -c FILE`
 * with the bucket, endpoint and credentials (a ${file:} reference) in the config file, a base
 * backup goes to the bucket, `bulwark restore --data-dir --to-time T -c FILE` writes a
 * restore_command that fetches from the bucket, and a second server started on the directory
 * recovers exactly the rows committed before T.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BIN, runCli } from "../../support/cli.js";
import { killChild } from "../../support/kill-child.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { serverUser } from "../../support/recovered-cluster.js";
import { S3RVER_KEY, startS3, type TestS3 } from "../../support/s3.js";
import { recoverRowsOfT, shellQuote, writeAroundTargetTime } from "./fixture.js";

const quote = shellQuote;

let server: TestPostgres;
let s3: TestS3;
let root: string;
let config: string;
let restored: ChildProcess | undefined;

/** No AWS_* variables: everything S3 comes from the config file, as for archive_command. */
const NO_AWS = { AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_ENDPOINT_URL: "" };

before(async () => {
  s3 = await startS3();
  root = mkdtempSync(join(tmpdir(), "bulwark-s3-pitr-"));
  chmodSync(root, 0o755);
  const key = join(root, "backup.key");
  assert.equal((await runCli(["backup", "keygen", "--out", key])).code, 0);
  writeFileSync(join(root, "s3-secret"), `${S3RVER_KEY}\n`, { mode: 0o600 });
  config = join(root, "bulwark.yaml");
  writeFileSync(
    config,
    [
      "backup:",
      `  repo: s3://${s3.bucket}/pitr`,
      "  keyFile: backup.key",
      "  s3:",
      `    endpoint: ${s3.endpoint}`,
      `    accessKeyId: ${S3RVER_KEY}`,
      "    secretAccessKey: ${file:s3-secret}",
      "",
    ].join("\n"),
  );
  // archive_command and restore_command run as the server's user: it must read these.
  const user = serverUser();
  if (user) for (const file of [key, join(root, "s3-secret"), config]) chownSync(file, user.uid, user.gid);
  server = await startPostgres({
    settings: {
      archive_mode: "on",
      archive_command: `${quote(process.execPath)} ${quote(BIN)} wal push %p -c ${quote(config)}`,
    },
  });
});

after(async () => {
  await killChild(restored);
  await server?.close();
  await s3?.close();
  rmSync(root, { recursive: true, force: true });
});

test("point-in-time recovery from an S3 repository, settings and credentials from the config file", async () => {
  await server.createDatabase("app");
  await server.query(
    "create table t (id int primary key); insert into t select generate_series(1, 100)",
    [],
    "app",
  );
  const base = await runCli(["backup", "--base", "-c", config, "--db", server.url(), "--format", "json"], {
    env: NO_AWS,
    timeoutMs: 90_000,
  });
  assert.equal(base.code, 0, base.stderr);
  const manifest = JSON.parse(base.stdout);
  assert.equal(manifest.archiveMode, "on");

  const { targetTime, segment } = await writeAroundTargetTime(server, "app", 60_000);
  const archived = await runCli(["wal", "fetch", segment, join(root, "check-segment"), "-c", config], {
    env: NO_AWS,
  });
  assert.equal(archived.code, 0, `the archived segment is in the bucket: ${archived.stderr}`);

  const dataDir = join(root, "restored");
  const restore = await runCli(
    ["restore", "--data-dir", dataDir, "--to-time", targetTime.toISOString(), "-c", config],
    { env: NO_AWS, timeoutMs: 90_000 },
  );
  assert.equal(restore.code, 0, restore.stderr);
  const auto = readFileSync(join(dataDir, "postgresql.auto.conf"), "utf8");
  assert.match(
    auto,
    /restore_command = '\S+ \S+ wal fetch %f %p --repo s3:\/\/bulwark-test\/pitr --key-file \S+ -c \S+'/,
  );
  assert.ok(!auto.includes(S3RVER_KEY), "a credential was written into postgresql.auto.conf");

  const recovered = await recoverRowsOfT(server, root, dataDir, {
    timeoutMs: 90_000,
    // No AWS_* variables in the recovering server's environment either.
    env: { ...process.env, ...NO_AWS },
    started: (child) => {
      restored = child;
    },
  });
  const log = recovered.log;
  assert.deepEqual(recovered.rows, { n: 200, max: 200 });
  assert.match(log, /restored log file ".*" from archive/);
  assert.match(log, /recovery stopping before commit of transaction/);
});
