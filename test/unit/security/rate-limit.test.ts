/**
 * GCRA and the memory store over a simulated clock: exact admissions, burst, retry-after, and the
 * memory bound under a spray of keys.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gcraParams } from "../../../src/security/rate-limit/gcra.js";
import { ipKey, keyValue } from "../../../src/security/rate-limit/keys.js";
import { MemoryStore } from "../../../src/security/rate-limit/memory-store.js";

function clockAt(start = 0) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

describe("GCRA", () => {
  test("a fresh key gets limit requests at once, then one per period/limit", () => {
    const clock = clockAt();
    const store = new MemoryStore(1000, clock.read);
    const params = gcraParams(5, 1000, 0); // T = 200 ms
    assert.deepEqual(params, { interval: 200_000, capacity: 5 });
    const remaining = [0, 1, 2, 3, 4].map(() => store.take("k", params));
    assert.deepEqual(
      remaining.map((d) => [d.allowed, d.remaining]),
      [
        [true, 4],
        [true, 3],
        [true, 2],
        [true, 1],
        [true, 0],
      ],
    );
    const denied = store.take("k", params);
    assert.equal(denied.allowed, false);
    assert.equal(denied.retryAfter, 200_000);
    assert.equal(denied.reset, 1_000_000, "full allowance back after one period");
    clock.now = 199_999;
    assert.equal(store.take("k", params).allowed, false);
    assert.equal(store.take("k", params).retryAfter, 1, "denied requests do not push the next admission");
    clock.now = 200_000;
    const again = store.take("k", params);
    assert.deepEqual([again.allowed, again.remaining], [true, 0]);
    assert.equal(store.take("k", params).allowed, false);
  });

  test("burst adds to what a fresh key may send at once", () => {
    const store = new MemoryStore(1000, clockAt().read);
    const params = gcraParams(5, 1000, 2);
    const admitted = Array.from({ length: 20 }, () => store.take("k", params)).filter((d) => d.allowed);
    assert.equal(admitted.length, 7);
  });

  test("hammered (until denied) every millisecond, admissions are exactly capacity + floor(elapsed / T)", () => {
    const clock = clockAt(1_000_000_000);
    const store = new MemoryStore(1000, clock.read);
    const params = gcraParams(100, 60_000, 10); // T = 600 ms, C = 110
    let admitted = 0;
    for (let ms = 0; ms <= 180_000; ms++) {
      clock.now = 1_000_000_000 + ms * 1000;
      while (store.take("k", params).allowed) admitted++;
      if (ms % 997 === 0) assert.equal(admitted, 110 + Math.floor(ms / 600), `at ${ms} ms`);
    }
    assert.equal(admitted, 110 + 300);
  });

  test("an idle key regains its full allowance and no more", () => {
    const clock = clockAt();
    const store = new MemoryStore(1000, clock.read);
    const params = gcraParams(3, 3000, 0);
    for (let i = 0; i < 3; i++) assert.ok(store.take("k", params).allowed);
    clock.now = 60_000_000;
    const first = store.take("k", params);
    assert.equal(first.remaining, 2);
    assert.ok(store.take("k", params).allowed);
    assert.ok(store.take("k", params).allowed);
    assert.equal(store.take("k", params).allowed, false);
  });

  test("keys are independent", () => {
    const store = new MemoryStore(1000, clockAt().read);
    const params = gcraParams(1, 1000, 0);
    assert.ok(store.take("a", params).allowed);
    assert.equal(store.take("a", params).allowed, false);
    assert.ok(store.take("b", params).allowed);
  });
});

describe("memory store bound", () => {
  test("a spray of 200k keys never holds more than maxKeys", () => {
    const clock = clockAt();
    const store = new MemoryStore(10_000, clock.read);
    const params = gcraParams(10, 60_000, 0);
    for (let i = 0; i < 200_000; i++) {
      store.take(`spray-${i}`, params);
      if (i % 10_000 === 0) assert.ok(store.size <= 10_000, `size ${store.size} at ${i}`);
    }
    assert.ok(store.size <= 10_000, `size ${store.size}`);
  });

  test("expired entries go first, so a live key survives a spray of short-lived keys", () => {
    const clock = clockAt();
    const store = new MemoryStore(100, clock.read);
    const short = gcraParams(1, 1, 0); // expires 1 ms after its request
    const long = gcraParams(1, 3_600_000, 0);
    for (let i = 0; i < 99; i++) store.take(`old-${i}`, short);
    clock.now = 10_000;
    assert.ok(store.take("live", long).allowed);
    for (let i = 0; i < 1000; i++) {
      clock.now += 10_000;
      store.take(`new-${i}`, short);
    }
    assert.ok(store.size <= 100);
    assert.equal(store.take("live", long).allowed, false, "the live key kept its state");
  });
});

describe("keys", () => {
  test("IPv6 addresses are grouped by prefix; IPv4 and mapped IPv4 are kept whole", () => {
    assert.equal(ipKey("2001:db8:1:2:3:4:5:6", 64), "2001:db8:1:2:0:0:0:0/64");
    assert.equal(ipKey("2001:db8:1:2::9", 64), ipKey("2001:db8:1:2:ffff::1", 64));
    assert.notEqual(ipKey("2001:db8:1:2::9", 64), ipKey("2001:db8:1:3::9", 64));
    assert.equal(ipKey("2001:db8:1:2::9", 48), "2001:db8:1:0:0:0:0:0/48");
    assert.equal(ipKey("2001:db8::1", 128), "2001:db8:0:0:0:0:0:1/128");
    assert.equal(ipKey("192.0.2.7", 64), "192.0.2.7");
    assert.equal(ipKey("::ffff:192.0.2.7", 64), "192.0.2.7");
  });

  test("key values cannot break out of a Redis hash tag and stay short", () => {
    assert.equal(keyValue("a}b{c"), "a%7Db%7Bc");
    assert.match(keyValue("x".repeat(5000)), /^sha256:[A-Za-z0-9_-]{43}$/);
  });
});
