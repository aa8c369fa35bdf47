import assert from "node:assert/strict";
import { test } from "node:test";
import { VerifiedTokenCache } from "../../../src/security/jwt/token-cache.js";

function clock(start: number) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test("a verified token is found again until its exp (plus skew)", () => {
  const time = clock(1_000_000_000_000);
  const cache = new VerifiedTokenCache(10, 3_600_000, 1000, time.now);
  const key = VerifiedTokenCache.keyOf("header.payload.sig");
  cache.set(key, { subject: "alice", claims: { sub: "alice", exp: time.now() / 1000 + 10 } });
  assert.equal(cache.get(key)?.subject, "alice");
  time.advance(10_500);
  assert.equal(cache.get(key)?.subject, "alice", "within the clock skew");
  time.advance(600);
  assert.equal(cache.get(key), undefined, "expired tokens are not served from the cache");
  assert.equal(cache.size, 0);
});

test("entries live at most maxAge, even for long-lived tokens", () => {
  const time = clock(1_000_000_000_000);
  const cache = new VerifiedTokenCache(10, 60_000, 0, time.now);
  const key = VerifiedTokenCache.keyOf("t");
  cache.set(key, { subject: "s", claims: { exp: time.now() / 1000 + 86_400 } });
  time.advance(59_999);
  assert.ok(cache.get(key));
  time.advance(2);
  assert.equal(cache.get(key), undefined);
});

test("only the byte-identical token hits, tokens without exp are not cached, size is bounded", () => {
  const time = clock(1_000_000_000_000);
  const cache = new VerifiedTokenCache(3, 60_000, 0, time.now);
  const exp = time.now() / 1000 + 100;
  cache.set(VerifiedTokenCache.keyOf("a.b.c"), { subject: "s", claims: { exp } });
  assert.equal(cache.get(VerifiedTokenCache.keyOf("a.b.C")), undefined);
  cache.set(VerifiedTokenCache.keyOf("no-exp"), { subject: "s", claims: {} });
  assert.equal(cache.get(VerifiedTokenCache.keyOf("no-exp")), undefined);
  for (const token of ["t1", "t2", "t3", "t4"])
    cache.set(VerifiedTokenCache.keyOf(token), { subject: token, claims: { exp } });
  assert.equal(cache.size, 3);
  assert.equal(cache.get(VerifiedTokenCache.keyOf("a.b.c")), undefined, "the oldest entry went first");
  assert.equal(cache.get(VerifiedTokenCache.keyOf("t4"))?.subject, "t4");
});

test("typical tokens are keyed as they are; long ones by a digest that no raw token can equal", () => {
  const short = `${"a".repeat(100)}.${"b".repeat(500)}.${"c".repeat(300)}`;
  assert.equal(VerifiedTokenCache.keyOf(short), short);
  const long = `${"a".repeat(100)}.${"b".repeat(3000)}.${"c".repeat(300)}`;
  const key = VerifiedTokenCache.keyOf(long);
  assert.equal(key.length, 44);
  assert.match(key, /=$/, "a base64 digest ends with =, a compact JWS never does");
  assert.notEqual(VerifiedTokenCache.keyOf(`${long}x`), key);
});
