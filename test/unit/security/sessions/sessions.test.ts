/**
 * Sessions on the memory store: sealed records, idle and absolute timeouts on a fake clock,
 * single-use sign-in states, bounded memory; return paths; CSRF decisions.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkCsrf } from "../../../../src/security/csrf.js";
import { MemorySessionStore } from "../../../../src/security/sessions/memory-store.js";
import { safeReturnPath } from "../../../../src/security/sessions/return-to.js";
import {
  openRecord,
  type SessionRecord,
  sealRecord,
  storageKey,
} from "../../../../src/security/sessions/session-record.js";
import { Sessions } from "../../../../src/security/sessions/sessions.js";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function record(now: number, absolute: number): SessionRecord {
  return {
    subject: "alice",
    claims: { sub: "alice", roles: ["clinician"] },
    issuer: "https://idp.example.com",
    clientId: "app",
    createdAt: now,
    expiresAt: now + absolute,
    csrfToken: "csrf-token",
    refreshToken: "rt-secret",
  };
}

const TIMEOUTS = { idle: 30 * 60_000, absolute: 12 * 3_600_000 };

describe("session records", () => {
  test("sealed records open only with their own id; the store key reveals nothing", () => {
    const r = record(0, 1000);
    const sealed = sealRecord("id-one", r);
    assert.deepEqual(openRecord("id-one", sealed), r);
    assert.equal(openRecord("id-two", sealed), undefined);
    assert.doesNotMatch(sealed, /alice|rt-secret/);
    assert.doesNotMatch(storageKey("id-one"), /id-one/);
    assert.equal(openRecord("id-one", "garbage"), undefined);
    assert.equal(openRecord("id-one", ""), undefined);
  });
});

describe("sessions on the memory store", () => {
  test("create, load, destroy", async () => {
    const time = clock();
    const sessions = new Sessions(new MemorySessionStore(100, time.now), time.now);
    const id = await sessions.create(record(time.now(), TIMEOUTS.absolute), TIMEOUTS);
    const loaded = await sessions.load(id, TIMEOUTS);
    assert.equal(loaded.status, "active");
    assert.equal(loaded.status === "active" && loaded.record.subject, "alice");
    await sessions.destroy(id);
    assert.equal((await sessions.load(id, TIMEOUTS)).status, "ended");
  });

  test("idle timeout: use keeps a session alive, silence ends it", async () => {
    const time = clock();
    const timeouts = { idle: 10_000, absolute: 3_600_000 };
    const sessions = new Sessions(new MemorySessionStore(100, time.now), time.now);
    const id = await sessions.create(record(time.now(), timeouts.absolute), timeouts);
    for (let i = 0; i < 10; i++) {
      time.advance(8000);
      assert.equal((await sessions.load(id, timeouts)).status, "active", `use ${i}`);
    }
    time.advance(10_001);
    assert.equal((await sessions.load(id, timeouts)).status, "ended");
  });

  test("absolute timeout ends a session in use", async () => {
    const time = clock();
    const timeouts = { idle: 10_000, absolute: 30_000 };
    const sessions = new Sessions(new MemorySessionStore(100, time.now), time.now);
    const id = await sessions.create(record(time.now(), timeouts.absolute), timeouts);
    time.advance(9000);
    assert.equal((await sessions.load(id, timeouts)).status, "active");
    time.advance(9000);
    assert.equal((await sessions.load(id, timeouts)).status, "active");
    time.advance(9000);
    assert.equal((await sessions.load(id, timeouts)).status, "active");
    time.advance(3001);
    assert.equal((await sessions.load(id, timeouts)).status, "ended");
  });

  test("two instances sharing a store see each other's updates and sign-outs (no stale cache)", async () => {
    const store = new MemorySessionStore();
    const one = new Sessions(store);
    const two = new Sessions(store);
    const first = record(Date.now(), TIMEOUTS.absolute);
    const id = await one.create(first, TIMEOUTS);
    const loaded = await one.load(id, TIMEOUTS);
    assert.equal(loaded.status === "active" && loaded.record.refreshToken, "rt-secret");
    await two.update(id, { ...first, refreshToken: "rt-rotated" }, TIMEOUTS);
    const again = await one.load(id, TIMEOUTS);
    assert.equal(again.status === "active" && again.record.refreshToken, "rt-rotated");
    await two.destroy(id);
    assert.equal((await one.load(id, TIMEOUTS)).status, "ended");
  });

  test("malformed ids are refused without a store lookup", async () => {
    const sessions = new Sessions(new MemorySessionStore());
    for (const id of ["", "short", "x".repeat(44), "../../etc/passwd".padEnd(43, "a")]) {
      assert.equal((await sessions.load(id, TIMEOUTS)).status, "ended");
    }
  });

  test("a sign-in state works once, and not after it expires", async () => {
    const time = clock();
    const sessions = new Sessions(new MemorySessionStore(100, time.now), time.now);
    const pending = { codeVerifier: "v", nonce: "n", returnTo: "/x", issuer: "i", clientId: "c" };
    const state = await sessions.begin(pending);
    assert.deepEqual(await sessions.finish(state), pending);
    assert.equal(await sessions.finish(state), undefined, "replayed state");
    const late = await sessions.begin(pending);
    time.advance(10 * 60_000 + 1);
    assert.equal(await sessions.finish(late), undefined, "expired state");
    assert.equal(await sessions.finish("not-a-state"), undefined);
  });

  test("the memory store stays within its bound under a flood of entries", async () => {
    const store = new MemorySessionStore(1000);
    for (let i = 0; i < 20_000; i++) await store.set(`k${i}`, "v", 60_000);
    assert.ok(store.size <= 1000, `${store.size} entries`);
    assert.ok(await store.get("k19999"), "the newest entry is kept");
    assert.equal(await store.get("k0"), undefined, "the oldest was evicted");
  });
});

describe("a flood of sign-in starts on the memory store", () => {
  test("evicts only other pending sign-ins, never a session, and stays bounded", async () => {
    const time = clock();
    const sessions = new Sessions(new MemorySessionStore(400, time.now), time.now);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++)
      ids.push(await sessions.create(record(time.now(), TIMEOUTS.absolute), TIMEOUTS));
    const pending = { codeVerifier: "v", nonce: "n", returnTo: "/", issuer: "i", clientId: "c" };
    const first = await sessions.begin(pending);
    const states: string[] = [];
    for (let i = 0; i < 20_000; i++) states.push(await sessions.begin(pending));
    for (const id of ids)
      assert.equal((await sessions.load(id, TIMEOUTS)).status, "active", "a session was evicted");
    assert.ok(sessions.store instanceof MemorySessionStore);
    // 300 sessions plus the pending pool: a quarter of 400, at least 100.
    assert.ok(sessions.store.size <= 300 + 100, `${sessions.store.size} entries`);
    assert.deepEqual(await sessions.finish(states.at(-1)!), pending, "the newest sign-in can finish");
    assert.equal(await sessions.finish(first), undefined, "the oldest pending sign-in made room");
  });
});

describe("back-channel logout indexes on the memory store", () => {
  test("sessions listed in an index end together; others and expired indexes are untouched", async () => {
    const time = clock();
    const store = new MemorySessionStore(1000, time.now);
    const sessions = new Sessions(store, time.now);
    const mine = ["bl:sid:one", "bl:sub:alice"];
    const a = await sessions.create(record(time.now(), TIMEOUTS.absolute), TIMEOUTS, mine);
    const b = await sessions.create(record(time.now(), TIMEOUTS.absolute), TIMEOUTS, [
      "bl:sid:two",
      "bl:sub:alice",
    ]);
    const other = await sessions.create(record(time.now(), TIMEOUTS.absolute), TIMEOUTS, ["bl:sub:bob"]);
    assert.equal(await sessions.endIndexed(["bl:sid:one"]), 1);
    assert.equal((await sessions.load(a, TIMEOUTS)).status, "ended");
    assert.equal((await sessions.load(b, TIMEOUTS)).status, "active");
    // By subject: every session of alice still there (one; a is gone already).
    assert.equal(await sessions.endIndexed(["bl:sub:alice"]), 1);
    assert.equal((await sessions.load(b, TIMEOUTS)).status, "ended");
    assert.equal((await sessions.load(other, TIMEOUTS)).status, "active");
    assert.equal(await sessions.endIndexed(["bl:sub:alice"]), 0, "the index is gone with its sessions");
    // An index lives as long as a session can (the absolute timeout), not forever.
    time.advance(TIMEOUTS.absolute + 1);
    assert.equal(await store.deleteIndexed("bl:sub:bob"), 0);
  });

  test("a used logout token id is remembered for its window only", async () => {
    const time = clock();
    const sessions = new Sessions(new MemorySessionStore(1000, time.now), time.now);
    assert.equal(await sessions.firstUse("bl:jti:x", 60_000), true);
    assert.equal(await sessions.firstUse("bl:jti:x", 60_000), false);
    time.advance(60_001);
    assert.equal(await sessions.firstUse("bl:jti:x", 60_000), true);
  });

  test("indexes count against the store's bound", async () => {
    const store = new MemorySessionStore(1000);
    for (let i = 0; i < 5000; i++) {
      await store.addToIndex(`bl:sub:u${i}`, `s:${i}`, 60_000);
      await store.set(`s:${i}`, "v", 60_000);
    }
    assert.ok(store.size <= 1000, `${store.size} entries and indexes`);
    assert.ok(await store.get("s:4999"), "the newest session is kept");
    assert.equal(await store.deleteIndexed("bl:sub:u4999"), 1, "and its index still finds it");
    assert.equal(await store.get("s:4999"), undefined);
  });
});

describe("return paths after sign-in", () => {
  test("same-origin paths pass; anything that could leave the origin becomes /", () => {
    assert.equal(safeReturnPath("/app/page?x=1"), "/app/page?x=1");
    assert.equal(safeReturnPath("/"), "/");
    for (const bad of [
      "https://evil.example/",
      "//evil.example/",
      "/\\evil.example",
      "\\\\evil.example",
      "/\t/evil.example",
      "javascript:alert(1)",
      "evil.example",
      "",
      null,
      undefined,
      `/${"a".repeat(3000)}`,
    ]) {
      assert.equal(safeReturnPath(bad), "/", String(bad));
    }
  });
});

describe("csrf decisions", () => {
  const base = {
    method: "POST",
    origin: "https://app.example.com",
    secFetchSite: "same-origin",
    token: "t0k3n",
    expectedToken: "t0k3n",
    allowedOrigins: new Set(["https://app.example.com"]),
  };

  test("a same-origin request with the session's token passes; safe methods are never checked", () => {
    assert.deepEqual(checkCsrf(base), { ok: true });
    assert.deepEqual(
      checkCsrf({ ...base, method: "GET", origin: "https://evil.example", token: undefined }),
      {
        ok: true,
      },
    );
  });

  test("a foreign Origin is refused; a null Origin is judged by Sec-Fetch-Site and the token", () => {
    for (const origin of ["https://evil.example", "https://app.example.com.evil.example"]) {
      const verdict = checkCsrf({ ...base, origin });
      assert.equal(verdict.ok, false);
      assert.equal(!verdict.ok && verdict.code, "csrf_origin_rejected");
    }
    // A form posted from the site's own page under Referrer-Policy: no-referrer (Fetch §3.1).
    assert.deepEqual(checkCsrf({ ...base, origin: "null" }), { ok: true });
    for (const secFetchSite of ["cross-site", "same-site"]) {
      const verdict = checkCsrf({ ...base, origin: "null", secFetchSite });
      assert.equal(!verdict.ok && verdict.code, "csrf_origin_rejected", secFetchSite);
    }
    const tokenless = checkCsrf({ ...base, origin: "null", secFetchSite: undefined, token: undefined });
    assert.equal(!tokenless.ok && tokenless.code, "csrf_token_missing");
  });

  test("without Origin, Sec-Fetch-Site cross-site or same-site is refused", () => {
    for (const site of ["cross-site", "same-site"]) {
      const verdict = checkCsrf({ ...base, origin: undefined, secFetchSite: site });
      assert.equal(!verdict.ok && verdict.code, "csrf_origin_rejected");
    }
    assert.deepEqual(checkCsrf({ ...base, origin: undefined, secFetchSite: undefined }), { ok: true });
  });

  test("a missing or wrong token is refused with its own code", () => {
    const missing = checkCsrf({ ...base, token: undefined });
    assert.equal(!missing.ok && missing.code, "csrf_token_missing");
    const wrong = checkCsrf({ ...base, token: "other" });
    assert.equal(!wrong.ok && wrong.code, "csrf_token_invalid");
  });
});
