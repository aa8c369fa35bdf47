/**
 * Backups in an S3-compatible bucket, through the built CLI, against a real PostgreSQL 15 and a
 * real S3-compatible server (s3rver on a loopback port): backup, list, show, restore, drill,
 * prune, WAL push/fetch and base backups. Credentials come from AWS_* variables or from
 * ${env:}/${file:} references, never argv. Faults: s3-faults.test.ts.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { TestPostgres } from "../../support/postgres.js";
import { S3RVER_KEY, s3FaultProxy, type TestS3 } from "../../support/s3.js";
import { type BackupFixture, startBackupFixture } from "./fixture.js";

let fx: BackupFixture;
let pg: TestPostgres;
let s3: TestS3;
let dir: string;
let key: string;
let sourceUrl: string;
let repo: string;

const run = (args: string[], env: Record<string, string> = {}, timeoutMs?: number) =>
  fx.run(args, { env, timeoutMs });

const listed = (repository = repo, env: Record<string, string> = {}) => fx.list({ repo: repository, env });

before(async () => {
  fx = await startBackupFixture({
    prefix: "bulwark-s3-backup-",
    s3Prefix: "prod/db",
    seed: `create table users (id serial primary key, name text not null, born date);
     insert into users (name, born) select 'user ' || g, date '1990-01-01' + g from generate_series(1, 3000) g;
     -- md5 output does not compress: about 13 MB of dump, three 5 MiB parts.
     create table blobs (id int primary key, b bytea);
     insert into blobs select g, decode(md5(g::text) || md5((g * 7)::text), 'hex') from generate_series(1, 400000) g;`,
  });
  ({ server: pg, dir, key, repo, sourceUrl } = fx);
  s3 = fx.s3!;
});

after(() => fx?.close());

describe("S3 repository: the whole cycle", () => {
  let firstId: string;

  test("backup streams into the bucket with credentials from ${file:}/${env:} references; list and show read it", async () => {
    const secretFile = join(dir, "s3-secret");
    writeFileSync(secretFile, `${S3RVER_KEY}\n`, { mode: 0o600 });
    const config = join(dir, "bulwark.yaml");
    writeFileSync(
      config,
      [
        "backup:",
        `  repo: ${repo}`,
        "  keyFile: backup.key",
        "  s3:",
        `    endpoint: ${s3.endpoint}`,
        "    accessKeyId: ${env:TEST_S3_KEY_ID}",
        "    secretAccessKey: ${file:s3-secret}",
        "    partSizeMiB: 5",
        "",
      ].join("\n"),
    );
    // No AWS_* variables: everything comes from the config file.
    const noAws = {
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
      AWS_ENDPOINT_URL: "",
      TEST_S3_KEY_ID: S3RVER_KEY,
    };
    const result = await run(["backup", "-c", config, "--db", sourceUrl, "--format", "json"], noAws);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /NodeVersionSupportWarning/);
    const manifest = JSON.parse(result.stdout);
    firstId = manifest.id;
    assert.ok(manifest.size > 10 * 1024 * 1024, `dump of ${manifest.size} bytes: not a multipart upload`);
    assert.match(result.stderr, new RegExp(`into s3://${s3.bucket}/prod/db`));
    const listing = await listed(repo);
    assert.equal(listing.repository, repo);
    assert.deepEqual(
      listing.backups.map((backup) => backup.id),
      [firstId],
    );
    const shown = await run(["backup", "show", "latest", "-c", config], noAws);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, /public\.blobs\s+400000 rows/);
    for (const output of [result.stdout, result.stderr, shown.stderr])
      assert.ok(!output.includes(S3RVER_KEY), "a credential was printed");
  });

  test("restore and drill fetch from the bucket, each artifact downloaded once; the drill marks the backup verified there", async () => {
    // Through a logging proxy: a restore reads the artifact three times (checksum, authentication,
    // pg_restore), the bucket serves it once; the local copies, in TMPDIR, are gone afterwards.
    const proxy = await s3FaultProxy(s3);
    const copies = mkdtempSync(join(dir, "tmp-"));
    const viaProxy = { env: { AWS_ENDPOINT_URL: proxy.endpoint, TMPDIR: copies } };
    const artifactGets = () => proxy.requests.filter((line) => /^GET \S*\/dump\.bwenc/.test(line)).length;
    const target = await pg.createDatabase("restored");
    let restored: Awaited<ReturnType<typeof fx.restore>>;
    let drill: Awaited<ReturnType<typeof fx.drill>>;
    let restoreGets: number;
    try {
      restored = await fx.restore("latest", target, [], viaProxy);
      restoreGets = artifactGets();
      drill = await fx.drill(
        ["--assert", "select count(*) = 3000 from users", "--rto", "1h", "--no-evidence", "--format", "json"],
        viaProxy,
      );
    } finally {
      await proxy.close();
    }
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restoreGets, 1, proxy.requests.join("\n"));
    assert.equal(artifactGets(), 2, "the drill downloaded the artifact once too");
    assert.deepEqual(readdirSync(copies), [], "no local copy is left behind");
    const rows = await pg.query<{ users: number; blobs: number }>(
      "select (select count(*)::int from users) as users, (select count(*)::int from blobs) as blobs",
      [],
      "restored",
    );
    assert.deepEqual(rows[0], { users: 3000, blobs: 400000 });
    assert.equal(drill.code, 0, drill.stderr);
    const report = JSON.parse(drill.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.backup.repository, repo);
    assert.deepEqual(
      report.tables.map((table: { name: string; ok: boolean }) => [table.name, table.ok]),
      [
        ["blobs", true],
        ["users", true],
      ],
    );
    assert.ok(report.phases.fetchMs > 0 && report.phases.restoreMs > 0);
    const listing = await listed(repo);
    assert.equal((listing.backups[0]!.verified as { id: string }).id, firstId);
  });

  test("a tampered object in the bucket is refused before the target is touched", async () => {
    const file = await findObjectFile(`${firstId}/dump.bwenc`);
    const original = readFileSync(file);
    const damaged = Buffer.from(original);
    damaged[damaged.length >> 1]! ^= 0x01;
    writeFileSync(file, damaged);
    try {
      const target = await pg.createDatabase("tampered");
      const result = await fx.restore(firstId, target);
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, /backup_corrupt|is corrupt: the SHA-256/);
      assert.deepEqual(await pg.query("select 1 from pg_class where relname = 'users'", [], "tampered"), []);
    } finally {
      writeFileSync(file, original);
    }
  });

  test("prune on S3 removes old backups and keeps the verified one", async () => {
    const secondId = (await fx.backup()).id;
    const thirdId = (await fx.backup()).id;
    const pruned = await run(["backup", "prune", "--repo", repo, "--keep-last", "1"]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stderr, new RegExp(`removed ${secondId}`));
    assert.deepEqual(
      (await listed(repo)).backups.map((backup) => backup.id),
      [firstId, thirdId],
      "the verified backup and the newest stay",
    );
    assert.equal(
      await findObjectFile(`${secondId}/dump.bwenc`).catch(() => null),
      null,
      "its objects are gone",
    );
  });

  test("WAL push and fetch go through the bucket; base backups too", async () => {
    const wal = join(dir, "000000010000000000000007");
    const content = randomBytes(64 * 1024);
    writeFileSync(wal, content);
    const push = await run(["wal", "push", wal, "--repo", repo, "--key-file", key]);
    assert.equal(push.code, 0, push.stderr);
    assert.equal(
      (await run(["wal", "push", wal, "--repo", repo, "--key-file", key])).code,
      0,
      "same content again",
    );
    writeFileSync(wal, randomBytes(64 * 1024));
    const conflict = await run(["wal", "push", wal, "--repo", repo, "--key-file", key]);
    assert.equal(conflict.code, 3);
    assert.match(conflict.stderr, /already archived with different content/);
    const fetched = join(dir, "fetched");
    const fetch = await run([
      "wal",
      "fetch",
      "000000010000000000000007",
      fetched,
      "--repo",
      repo,
      "--key-file",
      key,
    ]);
    assert.equal(fetch.code, 0, fetch.stderr);
    assert.ok(readFileSync(fetched).equals(content));
    const absent = await run([
      "wal",
      "fetch",
      "000000010000000000000008",
      fetched,
      "--repo",
      repo,
      "--key-file",
      key,
    ]);
    assert.equal(absent.code, 1);

    const baseId = (await fx.backup(["--base"], { db: pg.url() })).id;
    const bases = await run(["backup", "list", "--base", "--repo", repo, "--format", "json"]);
    assert.deepEqual(
      JSON.parse(bases.stdout).backups.map((backup: { id: string }) => backup.id),
      [baseId],
    );
    const dataDir = join(dir, "recovered");
    const restored = await run(["restore", baseId, "--data-dir", dataDir, "--repo", repo, "--key-file", key]);
    assert.equal(restored.code, 0, restored.stderr);
    const auto = readFileSync(join(dataDir, "postgresql.auto.conf"), "utf8");
    assert.match(
      auto,
      new RegExp(`restore_command = '.* wal fetch %f %p --repo s3://${s3.bucket}/prod/db --key-file `),
    );
    assert.match(readFileSync(join(dataDir, "PG_VERSION"), "utf8"), /^15/);
  });
});

/** The file s3rver keeps an object's content in (to damage it, as a faulty disk would). */
async function findObjectFile(key: string): Promise<string> {
  const { readdirSync, statSync } = await import("node:fs");
  const wanted = `prod/db/${key}`;
  const walk = (path: string): string | undefined => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      if (statSync(full).isDirectory()) {
        const found = walk(full);
        if (found) return found;
      } else if (full.endsWith(`${wanted}._S3rver_object`)) return full;
    }
    return undefined;
  };
  const found = walk(s3.directory);
  if (!found) throw new Error(`no object ${wanted} in ${s3.directory}`);
  return found;
}
