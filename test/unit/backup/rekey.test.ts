/**
 * The pure parts of `bulwark backup rekey`: picking a key by the artifact's key id (key-ring.ts,
 * fuzzed), the id of a re-encrypted copy, the new key's loading rules, and the repository's rekey
 * lock. The whole command runs against real PostgreSQL and s3rver in
 * test/integration/backup/rekey*.test.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { HEADER_LENGTH } from "../../../src/backup/artifact-header.js";
import { keyFromBytes } from "../../../src/backup/backup-key.js";
import { keyForArtifact, primaryKey } from "../../../src/backup/key-ring.js";
import { LocalObjectStore } from "../../../src/backup/local-object-store.js";
import { BACKUP_ID } from "../../../src/backup/manifest.js";
import { lockHolder, REKEY_LOCK, withRekeyLock, withRepositoryLock } from "../../../src/backup/rekey-lock.js";
import { loadNewKey } from "../../../src/backup/rekey-new-key.js";
import { rekeyedId } from "../../../src/backup/rekey-plan.js";
import { encryptToBuffer } from "../../../src/backup/wal-archive.js";
import { BulwarkError } from "../../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-rekey-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const oldKey = keyFromBytes(randomBytes(32));
const newKey = keyFromBytes(randomBytes(32));

describe("key ring", () => {
  it("picks the key whose id the artifact names, whatever the order", async () => {
    const underOld = await encryptToBuffer(Buffer.from("segment"), oldKey);
    const underNew = await encryptToBuffer(Buffer.from("segment"), newKey);
    assert.equal(keyForArtifact([newKey, oldKey], underOld), oldKey);
    assert.equal(keyForArtifact([newKey, oldKey], underNew), newKey);
    assert.equal(keyForArtifact(oldKey, underOld), oldKey);
    assert.equal(primaryKey([newKey, oldKey]), newKey);
    assert.equal(primaryKey(oldKey), oldKey);
  });

  it("names the artifact's key id and every id given when none matches", async () => {
    const stray = keyFromBytes(randomBytes(32));
    const artifact = await encryptToBuffer(Buffer.from("x"), stray);
    assert.throws(
      () => keyForArtifact([newKey, oldKey], artifact, "the archived 000000010000000000000001"),
      (error: unknown) =>
        error instanceof BulwarkError &&
        error.code === "backup_wrong_key" &&
        error.message ===
          `wrong key: the archived 000000010000000000000001 was encrypted with key ${stray.id}, the keys given are ${newKey.id}, ${oldKey.id}`,
    );
    assert.throws(() => keyForArtifact(oldKey, artifact), /the key given is /);
  });

  it("fuzz: random and mutated headers give a BulwarkError, never a crash (2 s)", async () => {
    const valid = await encryptToBuffer(Buffer.from("x"), oldKey);
    const deadline = Date.now() + 2000;
    let runs = 0;
    while (Date.now() < deadline) {
      const input =
        runs % 2 === 0
          ? randomBytes(Math.floor(Math.random() * (HEADER_LENGTH + 8)))
          : Buffer.from(valid.subarray(0, HEADER_LENGTH));
      if (runs % 2 === 1) {
        const at = Math.floor(Math.random() * 12);
        input[at] = input[at]! ^ (1 + Math.floor(Math.random() * 255));
      }
      try {
        keyForArtifact([oldKey, newKey], input);
      } catch (error) {
        assert.ok(error instanceof BulwarkError, String(error));
        assert.ok(
          ["backup_corrupt", "backup_truncated", "backup_wrong_key"].includes(error.code),
          error.code,
        );
      }
      runs++;
    }
    assert.ok(runs > 100);
  });
});

describe("rekeyedId", () => {
  it("keeps the time stamp, is a valid backup id, differs from the original and is stable", () => {
    const id = "20261126T104900Z-3f9a1c";
    const twin = rekeyedId(id, newKey.id);
    assert.match(twin, BACKUP_ID);
    assert.ok(twin.startsWith("20261126T104900Z-"));
    assert.notEqual(twin, id);
    assert.equal(rekeyedId(id, newKey.id), twin);
    assert.notEqual(rekeyedId(id, oldKey.id), twin);
  });
});

describe("loadNewKey", () => {
  it("reads a passphrase from a file only its owner can read, without its trailing newline", async () => {
    const file = join(dir, "passphrase");
    writeFileSync(file, "correct horse battery staple\n", { mode: 0o600 });
    const fromFile = await loadNewKey(undefined, file);
    writeFileSync(file, "correct horse battery staple", { mode: 0o600 });
    assert.equal((await loadNewKey(undefined, file)).id, fromFile.id);
    assert.equal(fromFile.kind, "passphrase");
  });

  it("refuses a readable passphrase file, a short passphrase, both flags and neither", async () => {
    const open = join(dir, "open-passphrase");
    writeFileSync(open, "correct horse battery staple", { mode: 0o644 });
    await assert.rejects(loadNewKey(undefined, open), /readable by other users \(mode 644\); run chmod 600/);
    const short = join(dir, "short");
    writeFileSync(short, "short", { mode: 0o600 });
    await assert.rejects(loadNewKey(undefined, short), /too short/);
    await assert.rejects(loadNewKey(join(dir, "k"), short), /give the new key once/);
    await assert.rejects(loadNewKey(undefined, undefined), /no new key/);
    await assert.rejects(
      loadNewKey(undefined, join(dir, "missing")),
      /cannot read passphrase file .* \(ENOENT\)/,
    );
  });
});

describe("rekey lock", () => {
  it("lets one rekey in, refuses a second while the first holds it, and takes over a dead holder's", async () => {
    const repo = join(dir, "repo");
    const store = new LocalObjectStore(repo);
    await store.put("x/manifest.json", "{}");
    let inner: unknown;
    await withRekeyLock(store, async () => {
      inner = await withRekeyLock(store, async () => "second").catch((error: unknown) => error);
    });
    assert.ok(inner instanceof BulwarkError && inner.code === "backup_rekey_busy", String(inner));
    assert.match((inner as Error).message, new RegExp(`\\(pid ${process.pid} on ${hostname()} since `));
    assert.equal(await store.get(REKEY_LOCK), null, "released");

    const dead = spawnSync("true").pid;
    writeFileSync(join(repo, REKEY_LOCK), JSON.stringify({ pid: dead, host: hostname(), startedAt: "x" }));
    assert.equal(await withRekeyLock(store, async () => "taken over"), "taken over");

    writeFileSync(join(repo, REKEY_LOCK), JSON.stringify({ pid: dead, host: "elsewhere", startedAt: "x" }));
    await assert.rejects(
      withRekeyLock(store, async () => "no"),
      /on elsewhere since x\); wait for it, or if it is gone, remove/,
    );
  });

  it("is shared with prune: each refuses the other while it runs, and says which holds it", async () => {
    const repo = join(dir, "repo-prune");
    const store = new LocalObjectStore(repo);
    await store.put("x/manifest.json", "{}");
    const refused: unknown[] = [];
    await withRepositoryLock(store, "prune", async () => {
      assert.deepEqual((await lockHolder(store))?.operation, "prune");
      refused.push(await withRekeyLock(store, async () => "rekey").catch((error: unknown) => error));
      refused.push(
        await withRepositoryLock(store, "prune", async () => "prune").catch((error: unknown) => error),
      );
    });
    await withRekeyLock(store, async () => {
      assert.deepEqual((await lockHolder(store))?.operation, "rekey");
      refused.push(
        await withRepositoryLock(store, "prune", async () => "prune").catch((error: unknown) => error),
      );
    });
    assert.deepEqual(
      refused.map((error) =>
        error instanceof BulwarkError ? `${error.code}: ${error.message.split(" (")[0]}` : error,
      ),
      [
        `backup_rekey_busy: a prune of ${repo} is running`,
        `backup_rekey_busy: another prune of ${repo} is running`,
        `backup_rekey_busy: a rekey of ${repo} is running`,
      ],
    );
    assert.match(
      String((refused[2] as Error).message),
      /; prune removes nothing meanwhile: run it again after that, or if it is gone, remove /,
    );
    assert.equal(await lockHolder(store), undefined, "released");
    const dead = spawnSync("true").pid;
    writeFileSync(join(repo, REKEY_LOCK), JSON.stringify({ pid: dead, host: hostname(), startedAt: "x" }));
    assert.equal(await lockHolder(store), undefined, "a dead holder holds nothing");
    assert.equal(await withRepositoryLock(store, "prune", async () => "taken over"), "taken over");
  });

  it("fuzz: any rekey.lock content is taken over or refused with backup_rekey_busy, never a crash (2 s)", async () => {
    const repo = join(dir, "repo-fuzz");
    const store = new LocalObjectStore(repo);
    await store.put("x/manifest.json", "{}");
    const dead = spawnSync("true").pid!;
    const values = [dead, process.pid, -1, 0, 2 ** 53, "1", null, [], {}, hostname(), "", "x".repeat(300)];
    const pick = () => values[Math.floor(Math.random() * values.length)];
    const outcomes = new Set<string>();
    const deadline = Date.now() + 2000;
    // Every fifth lock is a dead holder's and every fifth a live one's (other fields fuzzed), so
    // both outcomes are seen however few rounds a busy machine runs; the rest is random.
    for (let round = 0; Date.now() < deadline || round < 10; round++) {
      const fields = { operation: pick(), startedAt: pick() };
      const content =
        round % 5 === 0
          ? JSON.stringify({ ...fields, pid: dead, host: hostname() })
          : round % 5 === 1
            ? JSON.stringify({ ...fields, pid: process.pid, host: hostname() })
            : Math.random() < 0.3
              ? randomBytes(Math.floor(Math.random() * 64))
              : JSON.stringify({ ...fields, pid: pick(), host: pick() });
      writeFileSync(join(repo, REKEY_LOCK), content);
      const holder = await lockHolder(store);
      try {
        assert.equal(await withRepositoryLock(store, "prune", async () => "in"), "in");
        assert.equal(holder, undefined, `taken over, but lockHolder named a live holder: ${String(content)}`);
        assert.equal(await store.get(REKEY_LOCK), null, "released");
        outcomes.add("taken over");
      } catch (error) {
        assert.ok(error instanceof BulwarkError && error.code === "backup_rekey_busy", String(error));
        assert.ok(holder !== undefined, `refused, but lockHolder saw no live holder: ${String(content)}`);
        outcomes.add("refused");
      }
    }
    assert.deepEqual([...outcomes].sort(), ["refused", "taken over"]);
  });
});
