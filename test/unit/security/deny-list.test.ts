/**
 * The in-memory deny-list: entries live until their expiry, a full list refuses new entries
 * rather than evicting live ones, and operator input is checked with specific messages.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DenyListFullError,
  MAX_JTI_LENGTH,
  MemoryDenyList,
  revocationProblem,
} from "../../../src/security/revocation/deny-list.js";

describe("memory deny-list", () => {
  test("a revoked jti is refused until its expiry, then forgotten", () => {
    const list = new MemoryDenyList();
    list.add({ jti: "a", expiresAt: 2000 }, 1000);
    assert.equal(list.isRevoked("a", 1500), true);
    assert.equal(list.isRevoked("a", 2000), false);
    assert.equal(list.isRevoked("b", 1500), false);
    assert.deepEqual(list.list(1500), [{ jti: "a", expiresAt: 2000 }]);
    assert.deepEqual(list.list(2500), []);
  });

  test("revoking again only lengthens; an expired revocation is not stored", () => {
    const list = new MemoryDenyList();
    list.add({ jti: "a", expiresAt: 5000 }, 1000);
    list.add({ jti: "a", expiresAt: 3000 }, 1000);
    assert.equal(list.isRevoked("a", 4000), true);
    list.add({ jti: "old", expiresAt: 500 }, 1000);
    assert.equal(list.size, 1);
  });

  test("a full list refuses a new revocation instead of evicting a live one", () => {
    const list = new MemoryDenyList(2);
    list.add({ jti: "a", expiresAt: 10_000 }, 0);
    list.add({ jti: "b", expiresAt: 10_000 }, 0);
    assert.throws(() => list.add({ jti: "c", expiresAt: 10_000 }, 0), DenyListFullError);
    assert.equal(list.isRevoked("a", 1), true);
    // Expired entries make room (the sweep runs on add, at most once a second).
    list.add({ jti: "c", expiresAt: 30_000 }, 20_000);
    assert.equal(list.isRevoked("c", 20_001), true);
  });

  test("operator input: specific messages for each mistake", () => {
    const now = 1_000_000;
    assert.equal(revocationProblem("id", now + 1, now), undefined);
    assert.match(revocationProblem("", now + 1, now) ?? "", /non-empty/);
    assert.match(revocationProblem(42, now + 1, now) ?? "", /non-empty string/);
    assert.match(revocationProblem("x".repeat(MAX_JTI_LENGTH + 1), now + 1, now) ?? "", /at most 256/);
    assert.match(revocationProblem("id", undefined, now) ?? "", /expiresAt must be a time/);
    assert.match(revocationProblem("id", Number.NaN, now) ?? "", /expiresAt must be a time/);
    assert.match(revocationProblem("id", now - 1, now) ?? "", /in the past/);
  });
});
