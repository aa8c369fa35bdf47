/**
 * The repository contract, run against both implementations: a local directory and a real
 * S3-compatible server (s3rver, test/support/s3.ts). Complete means "has a valid manifest";
 * removal takes the manifest first; a streamed artifact is whole or absent (S3); and the S3
 * store's failures (wrong credentials, missing bucket, unreachable endpoint) are clear errors.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { LocalObjectStore } from "../../../src/backup/local-object-store.js";
import type { Manifest } from "../../../src/backup/manifest.js";
import type { ObjectStore } from "../../../src/backup/object-store.js";
import { BackupRepository, openStore } from "../../../src/backup/repository.js";
import { S3ObjectStore } from "../../../src/backup/s3-object-store.js";
import { resolveS3Settings } from "../../../src/backup/s3-settings.js";
import type { BulwarkError } from "../../../src/errors.js";
import { freePort } from "../../support/ports.js";
import { startS3, type TestS3 } from "../../support/s3.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-repo-"));
let s3: TestS3;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

function manifest(id: string, startedAt: string): Manifest {
  return {
    kind: "bulwark-backup",
    formatVersion: 1,
    id,
    database: "app",
    source: "postgres://u@h:5432/app",
    serverVersion: "15.18",
    startedAt,
    finishedAt: startedAt,
    snapshot: { id: "00000003-00000002-1", takenAt: startedAt },
    tool: { name: "bulwark", version: "0.1.0", pgDump: "pg_dump (PostgreSQL) 15.18" },
    dump: { format: "custom", compression: 1 },
    encryption: {
      algorithm: "aes-256-gcm-stream-v1",
      keyId: "0123456789abcdef",
      keyKind: "file",
      chunkSize: 1048576,
    },
    artifacts: [{ name: "dump.bwenc", size: 1, sha256: "0".repeat(64) }],
    size: 1,
    checksumAlgorithm: "sum-xor-column-hash-v1",
    tables: [],
    mac: "0".repeat(64),
  };
}

function s3Store(prefix: string, partSizeMiB = 5): ObjectStore {
  return openStore(`s3://${s3.bucket}/${prefix}`, { s3: { partSizeMiB } }, s3.env());
}

async function writeArtifact(repo: BackupRepository, id: string, content: Buffer): Promise<void> {
  // Several writes, as an encrypting pipeline makes them.
  const parts = Array.from({ length: Math.ceil(content.length / 65536) }, (_, index) =>
    content.subarray(index * 65536, (index + 1) * 65536),
  );
  await pipeline(Readable.from(parts), repo.artifactWriter(id, "dump.bwenc"));
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(parts);
}

const implementations: [string, (name: string) => ObjectStore][] = [
  ["local directory", (name) => new LocalObjectStore(join(dir, name))],
  ["S3 (s3rver)", (name) => s3Store(name)],
];

for (const [kind, makeStore] of implementations) {
  describe(`repository contract: ${kind}`, () => {
    it("lists only backups whose manifest is written, oldest first, and tells live from abandoned writers", async () => {
      const repo = new BackupRepository(makeStore("a"));
      const first = await repo.create(new Date("2026-11-20T02:00:00Z"));
      await repo.complete(manifest(first, "2026-11-20T02:00:00.000Z"));
      const second = await repo.create(new Date("2026-11-21T02:00:00Z"));
      await repo.complete(manifest(second, "2026-11-21T02:00:00.000Z"));
      const running = await repo.create(new Date("2026-11-22T02:00:00Z"));
      const abandoned = await repo.create(new Date("2026-11-23T02:00:00Z"));
      await repo.store.put(
        `${abandoned}/in-progress.json`,
        JSON.stringify({ pid: 2 ** 22 + 17, host: "elsewhere" }),
      );
      const listing = await repo.list();
      assert.deepEqual(
        listing.backups.map((backup) => backup.id),
        [first, second],
      );
      assert.deepEqual(
        listing.incomplete.map((entry) => [entry.id, entry.live]),
        [
          [running, true],
          [abandoned, false],
        ],
      );
      assert.equal((await repo.find("latest")).id, second);
      // complete() removed the in-progress marker: the manifest is all that is left.
      assert.deepEqual(
        (await repo.store.list(`${first}/`)).map((object) => object.key),
        [`${first}/manifest.json`],
      );
    });

    it("refuses a manifest that does not parse or names another backup, and unknown ids", async () => {
      const repo = new BackupRepository(makeStore("b"));
      const id = await repo.create();
      await repo.store.put(`${id}/manifest.json`, "{not json");
      await assert.rejects(
        repo.find(id),
        (error: BulwarkError) => error.code === "backup_not_found" && /not valid JSON/.test(error.message),
      );
      const other = await repo.create(new Date("2020-01-01T00:00:00Z"));
      await repo.store.put(
        `${id}/manifest.json`,
        JSON.stringify(manifest(other, "2020-01-01T00:00:00.000Z")),
      );
      await assert.rejects(repo.find(id), /names a different backup/);
      await assert.rejects(repo.find("../etc"), (error: BulwarkError) => error.code === "usage");
      await assert.rejects(
        repo.find("20200101T000000Z-000000"),
        (error: BulwarkError) => error.code === "backup_not_found" && /no backup/.test(error.message),
      );
      await assert.rejects(
        new BackupRepository(makeStore("empty")).find("latest"),
        (error: BulwarkError) => error.code === "backup_not_found",
      );
    });

    it("removes a backup manifest first, so a half-removed backup is never listed", async () => {
      const repo = new BackupRepository(makeStore("c"));
      const id = await repo.create();
      await writeArtifact(repo, id, Buffer.from("x"));
      await repo.complete(manifest(id, new Date().toISOString()));
      // A prune that stopped after its first step (the manifest) leaves an incomplete backup.
      await repo.store.delete([`${id}/manifest.json`]);
      assert.deepEqual((await repo.list()).backups, []);
      assert.equal((await repo.list()).incomplete[0]?.id, id);
      await repo.remove(id);
      assert.deepEqual(await repo.list(), { backups: [], incomplete: [] });
      assert.deepEqual(await repo.store.list(""), []);
    });

    it("streams a large artifact back byte for byte, and keeps base backups and WAL apart", async () => {
      const repo = new BackupRepository(makeStore("d"));
      const id = await repo.create();
      // 13 MiB: three parts of a 5 MiB multipart upload on S3.
      const content = randomBytes(13 * 1024 * 1024);
      await writeArtifact(repo, id, content);
      const back = await readAll(await repo.openArtifact(id, "dump.bwenc"));
      assert.equal(back.length, content.length);
      assert.equal(
        createHash("sha256").update(back).digest("hex"),
        createHash("sha256").update(content).digest("hex"),
      );
      await assert.rejects(
        repo.openArtifact(id, "missing.bwenc"),
        (error: BulwarkError) =>
          error.code === "backup_corrupt" && /missing its artifact/.test(error.message),
      );
      const base = new BackupRepository(repo.store.child("base"));
      const baseId = await base.create();
      await repo.store.put("wal/000000010000000000000001.bwenc", "w");
      assert.deepEqual(await base.store.listChildren(), [baseId]);
      assert.deepEqual(
        (await repo.list()).incomplete.map((entry) => entry.id),
        [id],
      );
      assert.deepEqual(
        (await repo.store.list("wal/")).map((object) => [object.key, object.size]),
        [["wal/000000010000000000000001.bwenc", 1]],
      );
      assert.equal(await repo.store.get("wal/none"), null);
    });
  });
}

describe("S3 store specifics", () => {
  it("an artifact stream destroyed halfway never becomes an object (the multipart upload is aborted)", async () => {
    const repo = new BackupRepository(s3Store("abort"));
    const id = await repo.create();
    const writer = repo.artifactWriter(id, "dump.bwenc");
    const failing = new Readable({
      read() {},
    });
    const piped = pipeline(failing, writer);
    // 12 MiB: at least two parts are uploaded before the source fails.
    for (let index = 0; index < 12; index++) failing.push(randomBytes(1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 500));
    failing.destroy(new Error("pg_dump died"));
    await assert.rejects(piped, /pg_dump died/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await repo.store.get(`${id}/dump.bwenc`), null);
    assert.deepEqual(
      (await repo.store.list(`${id}/`)).map((object) => object.key),
      [`${id}/in-progress.json`],
    );
  });

  it("wrong credentials, a missing bucket and an unreachable endpoint are clear errors", async () => {
    const settings = resolveS3Settings(`s3://${s3.bucket}/x`, undefined, s3.env());
    const wrongKey = new BackupRepository(
      new S3ObjectStore({
        ...settings,
        credentials: { accessKeyId: "WRONG", secretAccessKey: "nope-secret" },
      }),
    );
    await assert.rejects(wrongKey.list(), (error: BulwarkError) => {
      assert.equal(error.code, "backup_repo_denied");
      assert.match(
        error.message,
        /access to s3:\/\/bulwark-test\/x at http:\/\/127\.0\.0\.1:\d+ was denied \(InvalidAccessKeyId\)/,
      );
      assert.match(error.details.join("\n"), /AWS_ACCESS_KEY_ID/);
      assert.ok(!JSON.stringify([error.message, error.details]).includes("nope-secret"), "secret printed");
      return true;
    });
    const missing = new BackupRepository(new S3ObjectStore({ ...settings, bucket: "no-such-bucket" }));
    await assert.rejects(
      missing.create(),
      (error: BulwarkError) =>
        error.code === "backup_repo_missing" && /bucket no-such-bucket does not exist/.test(error.message),
    );
    const closedPort = await freePort();
    const unreachable = new BackupRepository(
      new S3ObjectStore({ ...settings, endpoint: `http://127.0.0.1:${closedPort}` }),
    );
    await assert.rejects(unreachable.list(), (error: BulwarkError) => {
      assert.equal(error.code, "backup_repo_unreachable");
      assert.match(
        error.message,
        new RegExp(`cannot reach the S3 endpoint http://127.0.0.1:${closedPort}.*ECONNREFUSED`),
      );
      return true;
    });
  });
});
