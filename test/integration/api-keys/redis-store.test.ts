/**
 * The store contract against a real redis-server, plus outages: with Redis killed, stores and
 * the verifier report `api_key_store_unavailable` (the gateway's 503) instead of crashing, and
 * recover when it is back.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { newKey, newKeyId } from "../../../src/security/api-keys/key-format.js";
import { createKey } from "../../../src/security/api-keys/operations.js";
import { RedisKeyStore } from "../../../src/security/api-keys/redis-store.js";
import { createApiKeyVerifier } from "../../../src/security/api-keys/verifier.js";
import { startRedis, type TestRedis } from "../../support/redis.js";
import { eventually, PEPPER_TEXT, pepper, silentLog, storeContract } from "./store-contract.js";

let shared: TestRedis | undefined;
after(async () => {
  await shared?.close();
});

storeContract("redis", async () => {
  shared = await startRedis();
  const options = { url: shared.url, keyPrefix: "test:keys", timeout: 1000 };
  return {
    config: { type: "redis", ...options },
    open: async () => new RedisKeyStore(options),
    close: async () => {},
  };
});

describe("redis store specifics and outages", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.close();
  });

  test("one hash per key id under a Cluster hash tag, plus an id set", async () => {
    const store = new RedisKeyStore({ url: redis.url, keyPrefix: "bulwark:apikeys", timeout: 1000 });
    const { record } = await createKey(store, pepper, { name: "tagged", scopes: ["a"], expiresAt: null });
    await store.close();
    const admin = new Redis(redis.url);
    try {
      const keys = (await admin.keys("*")).sort();
      assert.deepEqual(keys, ["{bulwark:apikeys}:ids", `{bulwark:apikeys}:key:${record.id}`]);
      const fields = await admin.hgetall(`{bulwark:apikeys}:key:${record.id}`);
      assert.equal(fields.name, "tagged");
      assert.equal(fields.scopes, '["a"]');
      assert.equal(fields.expiresAt, "");
    } finally {
      admin.disconnect();
    }
  });

  test("Redis killed in the middle of a load: every verification settles as a key, null or 'unavailable'", async () => {
    const options = { url: redis.url, keyPrefix: "midload", timeout: 500 };
    const store = new RedisKeyStore(options);
    const { key } = await createKey(store, pepper, { name: "load", scopes: [], expiresAt: null });
    await store.close();
    const verifier = createApiKeyVerifier(
      {
        pepper: PEPPER_TEXT,
        store: { type: "redis", ...options },
        cacheTtl: 0,
        cacheMaxEntries: 1000,
        lastUsedInterval: 1000,
      },
      { log: silentLog() },
    );
    try {
      await eventually(() => verifier.ready, "verifier ready");
      const outcomes = { ok: 0, refused: 0, unavailable: 0 };
      const worker = async (stopAt: number) => {
        while (Date.now() < stopAt) {
          const presented = Math.random() < 0.5 ? key : newKey(newKeyId());
          try {
            if (await verifier.verify(presented)) outcomes.ok++;
            else outcomes.refused++;
          } catch (error) {
            assert.equal((error as { code?: string }).code, "api_key_store_unavailable");
            outcomes.unavailable++;
          }
        }
      };
      const stopAt = Date.now() + 1500;
      const load = Promise.all(Array.from({ length: 32 }, () => worker(stopAt)));
      await new Promise((resolve) => setTimeout(resolve, 400));
      await redis.kill();
      await load;
      assert.ok(
        outcomes.ok > 0 && outcomes.refused > 0 && outcomes.unavailable > 0,
        JSON.stringify(outcomes),
      );
    } finally {
      await verifier.close();
      await redis.start();
    }
  });

  test("Redis killed: a coded error, no crash; the verifier answers 'unavailable' then recovers", async () => {
    const options = { url: redis.url, keyPrefix: "outage", timeout: 500 };
    const store = new RedisKeyStore(options);
    const { key } = await createKey(store, pepper, { name: "outage", scopes: [], expiresAt: null });
    const log = silentLog();
    const verifier = createApiKeyVerifier(
      {
        pepper: PEPPER_TEXT,
        store: { type: "redis", ...options },
        cacheTtl: 60_000,
        cacheMaxEntries: 100,
        lastUsedInterval: 1000,
      },
      { log, store: new RedisKeyStore(options) },
    );
    try {
      await eventually(() => verifier.ready, "verifier ready");
      assert.ok(await verifier.verify(key));
      await redis.kill();
      // Cached: still answered (within cacheTtl), synchronously.
      assert.ok(verifier.verify(key));
      // Not cached: the store must be asked, and cannot answer.
      const uncached = newKey(newKeyId());
      await assert.rejects(Promise.resolve(verifier.verify(uncached)), {
        code: "api_key_store_unavailable",
        status: 503,
      });
      assert.deepEqual(await verifier.check(uncached), {
        ok: false,
        reason: "store_unavailable",
        id: uncached.slice(4, 16),
      });
      await assert.rejects(store.list(), { code: "api_key_store_unavailable" });
      await assert.rejects(createKey(store, pepper, { name: "x", scopes: [], expiresAt: null }), {
        code: "api_key_store_unavailable",
      });
      assert.equal(log.lines.filter((line) => line.includes("api key store unreachable")).length, 1);
      await redis.start();
      // Restarted empty (no persistence in tests): the id is unknown now, a normal refusal.
      await eventually(async () => {
        try {
          return (await verifier.verify(uncached)) === null;
        } catch {
          return false;
        }
      }, "verifier recovered");
      const { key: fresh } = await createKey(store, pepper, { name: "after", scopes: [], expiresAt: null });
      assert.ok(await verifier.verify(fresh));
    } finally {
      await verifier.close();
      await store.close();
    }
  });
});
