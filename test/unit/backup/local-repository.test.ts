import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LocalRepository } from "../../../src/backup/local-repository.js";
import type { Manifest } from "../../../src/backup/manifest.js";
import type { BulwarkError } from "../../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-repo-"));
after(() => rmSync(dir, { recursive: true, force: true }));

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

describe("local repository", () => {
  it("lists only backups whose manifest is written, oldest first, and tells live from abandoned writers", () => {
    const repo = new LocalRepository(join(dir, "a"));
    const first = repo.create(new Date("2026-11-20T02:00:00Z"));
    repo.complete(manifest(first, "2026-11-20T02:00:00.000Z"));
    const second = repo.create(new Date("2026-11-21T02:00:00Z"));
    repo.complete(manifest(second, "2026-11-21T02:00:00.000Z"));
    const running = repo.create(new Date("2026-11-22T02:00:00Z"));
    const abandoned = repo.create(new Date("2026-11-23T02:00:00Z"));
    writeFileSync(
      repo.path(abandoned, "in-progress.json"),
      JSON.stringify({ pid: 2 ** 22 + 17, host: "elsewhere" }),
    );
    const listing = repo.list();
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
    assert.equal(repo.find("latest").id, second);
    assert.deepEqual(readdirSync(repo.dir(first)).sort(), ["manifest.json"]);
  });

  it("refuses a manifest that does not parse or names another backup", () => {
    const repo = new LocalRepository(join(dir, "b"));
    const id = repo.create();
    writeFileSync(repo.path(id, "manifest.json"), "{not json");
    assert.throws(
      () => repo.find(id),
      (error: BulwarkError) => error.code === "backup_not_found" && /not valid JSON/.test(error.message),
    );
    const other = repo.create(new Date("2020-01-01T00:00:00Z"));
    writeFileSync(
      repo.path(id, "manifest.json"),
      JSON.stringify(manifest(other, "2020-01-01T00:00:00.000Z")),
    );
    assert.throws(() => repo.find(id), /names a different backup/);
    assert.throws(
      () => repo.find("../etc"),
      (error: BulwarkError) => error.code === "usage",
    );
    assert.throws(
      () => new LocalRepository(join(dir, "empty")).find("latest"),
      (error: BulwarkError) => error.code === "backup_not_found",
    );
  });

  it("removes a backup manifest first, so a half-removed backup is never listed", () => {
    const repo = new LocalRepository(join(dir, "c"));
    const id = repo.create();
    repo.complete(manifest(id, new Date().toISOString()));
    writeFileSync(repo.path(id, "dump.bwenc"), "x");
    repo.remove(id);
    assert.equal(existsSync(repo.dir(id)), false);
    assert.deepEqual(repo.list(), { backups: [], incomplete: [] });
  });
});
