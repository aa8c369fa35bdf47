/**
 * The Redis store against a real redis-server: the same GCRA decisions as the memory store,
 * Cluster-safe keys, and outages reported once per state change.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { gcraParams } from "../../../src/security/rate-limit/gcra.js";
import { MemoryStore } from "../../../src/security/rate-limit/memory-store.js";
import { RedisStore } from "../../../src/security/rate-limit/redis-store.js";
import { startRedis, type TestRedis } from "../../support/redis.js";

describe("redis store", () => {
  let redis: TestRedis;
  let admin: Redis;
  const events: string[] = [];
  let errors = 0;
  let store: RedisStore;

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on("error", () => {});
    await admin.connect();
    store = new RedisStore(
      { url: redis.url, timeout: 250, keyPrefix: "test:rl:" },
      {
        error: () => errors++,
        stateChanged: (up) => events.push(up ? "up" : "down"),
      },
    );
  });

  after(async () => {
    await store.close();
    admin.disconnect();
    await redis.close();
  });

  test("admits exactly capacity at once, then denies with the time to the next admission", async () => {
    const params = gcraParams(5, 60_000, 2); // T = 12 s, C = 7
    const decisions = [];
    for (let i = 0; i < 10; i++) decisions.push(await store.take("route/rule/ip:1.2.3.4|", params));
    assert.deepEqual(
      decisions.map((d) => d.allowed),
      [true, true, true, true, true, true, true, false, false, false],
    );
    assert.deepEqual(
      decisions.slice(0, 7).map((d) => d.remaining),
      [6, 5, 4, 3, 2, 1, 0],
    );
    const denied = decisions[7]!;
    assert.ok(denied.retryAfter > 11_000_000 && denied.retryAfter <= 12_000_000, String(denied.retryAfter));
    assert.ok(denied.reset > 83_000_000 && denied.reset <= 84_000_000, String(denied.reset));
  });

  test("takeAll decides several rules in one script run, exactly as the memory store does", async () => {
    const params = [gcraParams(3, 60_000, 0), gcraParams(5, 60_000, 1)];
    const keys = ["route/a/ip:5.6.7.8|", "route/b/s:alice|"];
    const memory = new MemoryStore(100);
    const calls = async () =>
      Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info("commandstats"))?.[1] ?? 0) +
      Number(/cmdstat_eval:calls=(\d+)/.exec(await admin.info("commandstats"))?.[1] ?? 0);
    const before = await calls();
    for (let i = 0; i < 8; i++) {
      const shared = await store.takeAll(keys, params);
      const local = memory.takeAll(keys, params);
      assert.deepEqual(
        shared.map((d) => [d.allowed, d.remaining]),
        local.map((d) => [d.allowed, d.remaining]),
        `request ${i + 1}`,
      );
    }
    assert.equal((await calls()) - before, 8, "one script run per request, not one per rule");
    // singleSlot: one call per key, each touching one Cluster slot, with the same decisions.
    const perKey = new RedisStore(
      { url: redis.url, timeout: 250, keyPrefix: "test:rl:slot:", singleSlot: true },
      { error() {}, stateChanged() {} },
    );
    try {
      const start = await calls();
      const decisions = await perKey.takeAll(keys, params);
      assert.deepEqual(
        decisions.map((d) => d.allowed),
        [true, true],
      );
      assert.equal((await calls()) - start, 2);
    } finally {
      await perKey.close();
    }
  });

  test("decisions asked for in one turn go out as one script run, decided in order like separate calls", async () => {
    const calls = async () =>
      Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info("commandstats"))?.[1] ?? 0) +
      Number(/cmdstat_eval:calls=(\d+)/.exec(await admin.info("commandstats"))?.[1] ?? 0);
    // 12 requests of one client in one turn, against a rule of capacity 7 and a per-subject rule
    // of capacity 4 shared by the first 6 of them: the memory store, asked one by one, is the truth.
    const perIp = gcraParams(5, 60_000, 2);
    const perSubject = gcraParams(4, 60_000, 0);
    const requests = Array.from({ length: 12 }, (_, i) =>
      i < 6
        ? { keys: ["batch/ip/ip:7.7.7.7|", "batch/sub/s:carol|"], params: [perIp, perSubject] }
        : { keys: ["batch/ip/ip:7.7.7.7|"], params: [perIp] },
    );
    const memory = new MemoryStore(100);
    const expected = requests.map((r) => memory.takeAll(r.keys, r.params));
    const before = await calls();
    const decided = await Promise.all(requests.map((r) => store.takeAll(r.keys, r.params)));
    assert.equal((await calls()) - before, 1, "one script run for the whole turn");
    assert.deepEqual(
      decided.map((ds) => ds.map((d) => [d.allowed, d.remaining])),
      expected.map((ds) => ds.map((d) => [d.allowed, d.remaining])),
    );
    assert.equal(decided.filter((ds) => ds[0]!.allowed).length, 7, "capacity 7 admitted, not more");
    // The key is written once, with the TAT of the last admission: the 8th request in a later turn
    // is still refused.
    assert.equal((await store.take("batch/ip/ip:7.7.7.7|", perIp)).allowed, false);

    // A busy turn is split so no single script run grows without bound (512 keys each).
    const start = await calls();
    const many = Array.from({ length: 1100 }, (_, i) =>
      store.takeAll([`batch/many/ip:10.0.${i >> 8}.${i & 255}|`], [perIp]),
    );
    const answers = await Promise.all(many);
    assert.ok(answers.every((ds) => ds.length === 1 && ds[0]!.allowed && ds[0]!.remaining === 6));
    assert.equal((await calls()) - start, 3, "1,100 keys in runs of at most 512");
  });

  test("keys carry a hash tag and expire when the allowance is full again", async () => {
    await store.take("r/x/ip:9.9.9.9|", gcraParams(10, 2000, 0));
    const keys = await admin.keys("test:rl:*");
    assert.ok(keys.includes("test:rl:{r/x/ip:9.9.9.9|}"), keys.join(","));
    const ttl = await admin.pttl("test:rl:{r/x/ip:9.9.9.9|}");
    assert.ok(ttl > 0 && ttl <= 200, String(ttl));
  });

  test("an outage rejects at once, reports one state change each way, and recovers", async () => {
    const params = gcraParams(100, 1000, 0);
    assert.ok((await store.take("outage", params)).allowed);
    await redis.kill();
    const startedAt = Date.now();
    for (let i = 0; i < 20; i++) await assert.rejects(Promise.resolve(store.take("outage", params)));
    // Every decision of a batch that could not be sent fails, each to its own caller.
    const batch = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => store.takeAll([`outage/${i}`, "outage/all"], [params, params])),
    );
    assert.deepEqual(
      batch.map((outcome) => outcome.status),
      ["rejected", "rejected", "rejected", "rejected", "rejected"],
    );
    assert.ok(Date.now() - startedAt < 5000, "failures are fast");
    assert.deepEqual(events, ["down"]);
    assert.ok(errors >= 20);
    await redis.start();
    const deadline = Date.now() + 10_000;
    let recovered = false;
    while (!recovered && Date.now() < deadline) {
      try {
        recovered = (await store.take("outage", params)).allowed;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.ok(recovered, "decisions resume when Redis is back");
    assert.deepEqual(events, ["down", "up"]);
  });
});
