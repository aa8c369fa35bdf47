/**
 * The API key store contract, run against each store (file, Redis, PostgreSQL) by its own test
 * file: the same operations give the same results, compare-and-set loses no update, changes
 * reach other processes' watchers, and the verifier behaves the same on top of each.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isBulwarkError } from "../../../src/errors.js";
import { newKey, newKeyId } from "../../../src/security/api-keys/key-format.js";
import { encodeDigest, keyDigest, pepperFrom } from "../../../src/security/api-keys/key-hash.js";
import { createKey, listKeys, revokeKey, rotateKey } from "../../../src/security/api-keys/operations.js";
import { type ApiKeyRecord, acceptDigest, compileRecord } from "../../../src/security/api-keys/record.js";
import type { ApiKeysConfig } from "../../../src/security/api-keys/schema.js";
import type { ApiKeyStore } from "../../../src/security/api-keys/store.js";
import { createApiKeyVerifier, type VerifierLog } from "../../../src/security/api-keys/verifier.js";

export const PEPPER_TEXT = "contract-test-pepper-0123456789-abcdef";
export const pepper = pepperFrom(PEPPER_TEXT);

export interface StoreFixture {
  /** A new store instance on the same backend, as another process would open it. */
  open(): Promise<ApiKeyStore>;
  /** The config a gateway would use for this backend. */
  readonly config: ApiKeysConfig["store"];
  close(): Promise<void>;
}

export function silentLog(): VerifierLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (fields, message) => lines.push(`debug ${message} ${JSON.stringify(fields)}`),
    warn: (fields, message) => lines.push(`warn ${message} ${JSON.stringify(fields)}`),
  };
}

/** Polls until `check` passes or fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function accepts(record: ApiKeyRecord, key: string, now = Date.now()): boolean {
  return acceptDigest(compileRecord(record), keyDigest(pepper, key), now).ok;
}

/** A store that counts round trips, to check what the verifier asks for. */
export function counting(store: ApiKeyStore): ApiKeyStore & { gets: number; touches: Map<string, number>[] } {
  const counted = Object.create(store) as ApiKeyStore & { gets: number; touches: Map<string, number>[] };
  counted.gets = 0;
  counted.touches = [];
  counted.get = (id: string) => {
    counted.gets++;
    return store.get(id);
  };
  counted.touch = (batch) => {
    counted.touches.push(new Map(batch));
    return store.touch(batch);
  };
  return counted;
}

export function storeContract(kind: string, setup: () => Promise<StoreFixture>): void {
  describe(`api key store contract: ${kind}`, () => {
    let fixture: StoreFixture;
    let store: ApiKeyStore;
    let other: ApiKeyStore;

    before(async () => {
      fixture = await setup();
      store = await fixture.open();
      await store.open();
      other = await fixture.open();
      await other.open();
    });

    after(async () => {
      await store.close();
      await other.close();
      await fixture.close();
    });

    test("an unknown id is absent; a created key is stored as a hash only, readable from another instance", async () => {
      assert.equal(await store.get(newKeyId()), undefined);
      const expiresAt = Date.now() + 3_600_000;
      const { key, record } = await createKey(store, pepper, {
        name: "billing",
        scopes: ["a:read", "b"],
        expiresAt,
      });
      assert.ok(key.startsWith(`bwk_${record.id}_`));
      const read = await other.get(record.id);
      assert.deepEqual(read, record);
      assert.equal(read!.hash, encodeDigest(keyDigest(pepper, key)));
      assert.ok(!JSON.stringify(read).includes(key.slice(17)), "the secret is not stored");
      assert.ok(accepts(read!, key));
      assert.ok((await other.list()).some((entry) => entry.id === record.id));
    });

    test("insert refuses a taken id; replace is compare-and-set on the revision", async () => {
      const { record } = await createKey(store, pepper, { name: "cas", scopes: [], expiresAt: null });
      assert.equal(await other.insert({ ...record, name: "dup" }), false);
      assert.equal((await store.get(record.id))!.name, "cas");
      assert.equal(await other.replace({ ...record, name: "stale", revision: 5 }, 0), false);
      assert.equal(await other.replace({ ...record, name: "renamed", revision: 2 }, 1), true);
      assert.equal(await store.replace({ ...record, name: "lost", revision: 2 }, 1), false);
      const read = await store.get(record.id);
      assert.equal(read!.name, "renamed");
      assert.equal(read!.revision, 2);
      assert.equal(await store.replace({ ...record, id: newKeyId() }, 1), false, "replace never creates");
    });

    test("rotate keeps the id, accepts both secrets until the overlap deadline, then only the new one", async () => {
      const { key: oldKey, record } = await createKey(store, pepper, {
        name: "rot",
        scopes: ["x"],
        expiresAt: null,
      });
      const { key: newer, record: rotated } = await rotateKey(other, pepper, record.id, { overlap: 60_000 });
      assert.notEqual(newer, oldKey);
      assert.ok(newer.startsWith(`bwk_${record.id}_`));
      const read = (await store.get(record.id))!;
      assert.deepEqual(read, rotated);
      assert.equal(read.previousHash, record.hash);
      assert.ok(accepts(read, newer) && accepts(read, oldKey));
      assert.ok(!accepts(read, oldKey, read.previousValidUntil!), "old secret refused at the deadline");
      assert.ok(accepts(read, newer, read.previousValidUntil! + 1));
      const { record: again } = await rotateKey(store, pepper, record.id, { overlap: 0 });
      assert.equal(again.previousHash, null);
      assert.ok(!accepts(again, newer) && !accepts(again, oldKey));
    });

    test("concurrent rotations from two instances all apply, none is lost", async () => {
      const { record } = await createKey(store, pepper, { name: "race", scopes: [], expiresAt: null });
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          rotateKey(i % 2 ? store : other, pepper, record.id, { overlap: 60_000 }),
        ),
      );
      const final = (await store.get(record.id))!;
      assert.equal(final.revision, 1 + 6);
      const keys = results.map((result) => result.key);
      assert.equal(new Set(keys).size, 6);
      // The last writer's key is current and the one before it is the previous secret: a chain.
      assert.equal(keys.filter((key) => accepts(final, key)).length, 2);
    });

    test("revoke stops a key, is idempotent, and rotate refuses a revoked key", async () => {
      const { key, record } = await createKey(store, pepper, { name: "rev", scopes: [], expiresAt: null });
      const first = await revokeKey(other, record.id);
      assert.equal(first.changed, true);
      const second = await revokeKey(store, record.id);
      assert.equal(second.changed, false);
      assert.equal(second.record.revokedAt, first.record.revokedAt);
      assert.ok(!accepts((await store.get(record.id))!, key));
      await assert.rejects(rotateKey(store, pepper, record.id, { overlap: 0 }), { code: "api_key_refused" });
      await assert.rejects(revokeKey(store, newKeyId()), { code: "api_key_not_found" });
      await assert.rejects(revokeKey(store, "not-an-id"), { code: "usage" });
    });

    test("touch moves last-used forward only, ignores unknown ids and does not bump the revision", async () => {
      const { record } = await createKey(store, pepper, { name: "touch", scopes: [], expiresAt: null });
      await store.touch(
        new Map([
          [record.id, 2_000_000_000_000],
          [newKeyId(), 5],
        ]),
      );
      await other.touch(new Map([[record.id, 1_000_000_000_000]]));
      const read = (await store.get(record.id))!;
      assert.equal(read.lastUsedAt, 2_000_000_000_000);
      assert.equal(read.revision, record.revision);
    });

    test("list returns every key in creation order, without secrets", async () => {
      const created = [];
      for (const name of ["l1", "l2", "l3"]) {
        created.push(
          (await createKey(store, pepper, { name, scopes: [], expiresAt: null, now: Date.now() })).record,
        );
        await sleep(2);
      }
      const listed = await listKeys(other);
      const ids = listed.map((record) => record.id);
      const positions = created.map((record) => ids.indexOf(record.id));
      assert.ok(positions.every((at) => at >= 0));
      assert.deepEqual(
        [...positions].sort((a, b) => a - b),
        positions,
      );
    });

    test("another instance's watcher hears about a revocation", async () => {
      const heard: (string | undefined)[] = [];
      const watcher = await fixture.open();
      await watcher.open();
      watcher.watch((id) => heard.push(id));
      try {
        await sleep(300); // subscription / LISTEN established
        const { record } = await createKey(store, pepper, { name: "watched", scopes: [], expiresAt: null });
        await revokeKey(other, record.id);
        await eventually(() => heard.some((id) => id === record.id || id === undefined), "a change event");
      } finally {
        await watcher.close();
      }
    });

    test("verifier: sync once cached, a wrong secret costs no store round trip, a revocation applies at once", async () => {
      const { key, record } = await createKey(store, pepper, {
        name: "gw",
        scopes: ["orders:read"],
        expiresAt: null,
      });
      const backend = counting(await fixture.open());
      const log = silentLog();
      const verifier = createApiKeyVerifier(
        {
          pepper: PEPPER_TEXT,
          store: fixture.config,
          cacheTtl: 60_000,
          cacheMaxEntries: 100,
          lastUsedInterval: 200,
        },
        { log, store: backend },
      );
      try {
        await eventually(() => verifier.ready, "verifier ready");
        const first = await verifier.verify(key);
        assert.deepEqual(first, { id: record.id, name: "gw", scopes: ["orders:read"], expiresAt: null });
        const second = verifier.verify(key);
        assert.ok(!(second instanceof Promise), "cached answer is synchronous");
        assert.deepEqual(second, first);
        const gets = backend.gets;
        const wrong = verifier.verify(newKey(record.id));
        assert.equal(wrong, null, "wrong secret for a cached id: null, synchronously");
        assert.equal(backend.gets, gets, "no store round trip for a wrong secret");
        assert.ok(
          log.lines.some((line) => line.includes('"reason":"wrong_secret"') && line.includes(record.id)),
        );
        assert.ok(!log.lines.some((line) => line.includes(key.slice(17))), "the key is never logged");

        // Last-used times are written in a batch by the verifier, not per request.
        for (let i = 0; i < 50; i++) verifier.verify(key);
        await eventually(
          async () => ((await store.get(record.id))?.lastUsedAt ?? 0) > 0,
          "lastUsedAt written",
        );
        const touchedIds = backend.touches.flatMap((batch) => [...batch.keys()]);
        assert.ok(touchedIds.length >= 1 && touchedIds.length <= 3, `touches: ${touchedIds.length}`);

        await revokeKey(other, record.id);
        await eventually(
          async () => (await verifier.verify(key)) === null,
          "revocation seen by the verifier",
        );
        assert.ok(log.lines.some((line) => line.includes('"reason":"revoked"')));
      } finally {
        await verifier.close();
      }
    });

    test("verifier: a rotated key's old secret works through the overlap; unknown ids and garbage are null", async () => {
      const { key: oldKey, record } = await createKey(store, pepper, {
        name: "gw2",
        scopes: [],
        expiresAt: null,
      });
      const log = silentLog();
      const verifier = createApiKeyVerifier(
        {
          pepper: PEPPER_TEXT,
          store: fixture.config,
          cacheTtl: 60_000,
          cacheMaxEntries: 100,
          lastUsedInterval: 60_000,
        },
        { log, store: await fixture.open() },
      );
      try {
        await eventually(() => verifier.ready, "verifier ready");
        assert.ok(await verifier.verify(oldKey));
        const { key: newer } = await rotateKey(other, pepper, record.id, { overlap: 1500 });
        await eventually(
          async () => (await verifier.verify(newer)) !== null,
          "rotation seen by the verifier",
        );
        assert.ok(await verifier.verify(oldKey), "old secret inside the overlap");
        await eventually(
          async () => (await verifier.verify(oldKey)) === null,
          "old secret refused after the overlap",
        );
        assert.ok(await verifier.verify(newer));
        assert.equal(await verifier.verify(newKey(newKeyId())), null);
        assert.equal(await verifier.verify("bwk_garbage"), null);
        assert.equal(await verifier.verify("x".repeat(100_000)), null);
        const reasons = log.lines.map((line) => /"reason":"(\w+)"/.exec(line)?.[1]);
        for (const reason of ["rotated_out", "unknown_id", "malformed", "oversized"]) {
          assert.ok(reasons.includes(reason), `logged ${reason}`);
        }
      } finally {
        await verifier.close();
      }
    });

    test("store errors are BulwarkErrors, never crashes", async () => {
      // A closed instance cannot answer; what it throws must be a coded error the CLI can print.
      const closed = await fixture.open();
      await closed.open();
      await closed.close();
      try {
        await closed.list();
        if (kind !== "file") assert.fail("a closed store answered");
      } catch (error) {
        assert.ok(isBulwarkError(error), String(error));
        assert.equal(error.code, "api_key_store_unavailable");
      }
    });
  });
}
