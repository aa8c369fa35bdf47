/**
 * Progressive lock-out: the same steps in memory and in a real redis-server — failures counted
 * in a window, lock-outs doubling up to the maximum, a success resetting the count, the level
 * forgotten after a quiet period.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { lockoutFor, MemoryLockoutStore } from "../../../src/security/brute-force/lockout.js";
import { RedisLockoutStore } from "../../../src/security/brute-force/redis-lockout-store.js";
import { startRedis, type TestRedis } from "../../support/redis.js";

const policy = { maxFailures: 3, window: 10_000, lockout: 1000, maxLockout: 8000 };

test("lock-out lengths double up to the maximum", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 40].map((level) => lockoutFor(policy, level)),
    [1000, 2000, 4000, 8000, 8000, 8000],
  );
});

describe("memory lock-out store", () => {
  let now = 0;
  const store = () => new MemoryLockoutStore(policy, 100, () => now);

  test("maxFailures in the window locks the key; the next lock-out is twice as long", async () => {
    now = 0;
    const locks = store();
    assert.equal(await locks.fail(["ip:a"]), 0);
    assert.equal(await locks.fail(["ip:a"]), 0);
    assert.equal(await locks.fail(["ip:a"]), 1000);
    assert.equal(locks.lockedFor(["ip:b", "ip:a"]), 1000);
    now = 999;
    assert.equal(locks.lockedFor(["ip:a"]), 1);
    now = 1000;
    assert.equal(locks.lockedFor(["ip:a"]), 0);
    await locks.fail(["ip:a"]);
    await locks.fail(["ip:a"]);
    assert.equal(await locks.fail(["ip:a"]), 2000);
  });

  test("failures outside the window do not add up; a success resets the count", async () => {
    now = 0;
    const locks = store();
    await locks.fail(["a:x"]);
    await locks.fail(["a:x"]);
    now = 10_001;
    assert.equal(await locks.fail(["a:x"]), 0);
    await locks.succeed(["a:x"]);
    assert.equal(await locks.fail(["a:x"]), 0);
    assert.equal(await locks.fail(["a:x"]), 0);
    assert.equal(await locks.fail(["a:x"]), 1000);
  });

  test("the level is forgotten after a quiet period", async () => {
    now = 0;
    const locks = store();
    for (let i = 0; i < 3; i++) await locks.fail(["k"]);
    now = 1000 + policy.maxLockout + policy.window + 1;
    for (let i = 0; i < 2; i++) await locks.fail(["k"]);
    assert.equal(await locks.fail(["k"]), 1000);
  });

  test("memory stays bounded under a spray of keys", async () => {
    now = 0;
    const locks = new MemoryLockoutStore(policy, 100, () => now);
    for (let i = 0; i < 10_000; i++) await locks.fail([`ip:${i}`]);
    assert.equal((locks as unknown as { entries: Map<string, unknown> }).entries.size, 100);
  });
});

describe("redis lock-out store", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.close();
  });

  test("the same progression, shared by two stores", async () => {
    const first = new RedisLockoutStore(policy, { url: redis.url, keyPrefix: "t:", timeout: 1000 });
    const second = new RedisLockoutStore(policy, { url: redis.url, keyPrefix: "t:", timeout: 1000 });
    try {
      assert.equal(await first.fail(["ip:a"]), 0);
      assert.equal(await second.fail(["ip:a"]), 0);
      assert.equal(await first.fail(["ip:a", "a:bob"]), 1000);
      const locked = await second.lockedFor(["ip:a"]);
      assert.ok(locked > 900 && locked <= 1000, String(locked));
      assert.equal(await second.lockedFor(["a:bob"]), 0);
      await second.succeed(["a:bob"]);
      for (let i = 0; i < 2; i++) assert.equal(await first.fail(["ip:a"]), 0);
      assert.equal(await first.fail(["ip:a"]), 2000);
    } finally {
      await first.close();
      await second.close();
    }
  });

  test("Redis down: checks answer not locked and the error is reported, no crash", async () => {
    const errors: string[] = [];
    const store = new RedisLockoutStore(policy, {
      url: redis.url,
      keyPrefix: "down:",
      timeout: 200,
      onError: (error) => errors.push(error.message),
    });
    try {
      for (let i = 0; i < 3; i++) await store.fail(["ip:z"]);
      assert.ok((await store.lockedFor(["ip:z"])) > 0);
      await redis.kill();
      assert.equal(await store.lockedFor(["ip:z"]), 0);
      assert.equal(await store.fail(["ip:z"]), 0);
      assert.ok(errors.length >= 2);
    } finally {
      await redis.start();
      await store.close();
    }
  });
});
