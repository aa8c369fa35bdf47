/**
 * Whether a record accepts a presented key's digest: current and previous secrets, the rotation
 * overlap deadline, expiry and revocation, checked against the given clock.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { newKey, newKeyId } from "../../../../src/security/api-keys/key-format.js";
import { encodeDigest, keyDigest, pepperFrom } from "../../../../src/security/api-keys/key-hash.js";
import {
  type ApiKeyRecord,
  acceptDigest,
  compileRecord,
  statusOf,
} from "../../../../src/security/api-keys/record.js";

const pepper = pepperFrom("x".repeat(40));
const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function fixture() {
  const id = newKeyId();
  const oldKey = newKey(id);
  const newKeyValue = newKey(id);
  const base: ApiKeyRecord = {
    id,
    name: "svc",
    hash: encodeDigest(keyDigest(pepper, oldKey)),
    scopes: ["orders:read"],
    createdAt: T0,
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    rotatedAt: null,
    previousHash: null,
    previousValidUntil: null,
    revision: 1,
  };
  const rotated: ApiKeyRecord = {
    ...base,
    hash: encodeDigest(keyDigest(pepper, newKeyValue)),
    previousHash: base.hash,
    previousValidUntil: T0 + 24 * HOUR,
    rotatedAt: T0,
    revision: 2,
  };
  const accept = (record: ApiKeyRecord, key: string, now: number) =>
    acceptDigest(compileRecord(record), keyDigest(pepper, key), now);
  return { id, oldKey, newKeyValue, base, rotated, accept };
}

describe("api key record acceptance", () => {
  test("the current secret is accepted with the key's id, name, scopes and expiry", () => {
    const { base, oldKey, accept, id } = fixture();
    const result = accept(base, oldKey, T0);
    assert.deepEqual(result, {
      ok: true,
      viaPrevious: false,
      key: { id, name: "svc", scopes: ["orders:read"], expiresAt: null },
    });
    assert.ok(result.ok && Object.isFrozen(result.key) && Object.isFrozen(result.key.scopes));
  });

  test("another key of the same id (a wrong secret) is refused", () => {
    const { base, id, accept } = fixture();
    assert.deepEqual(accept(base, newKey(id), T0), { ok: false, reason: "wrong_secret" });
  });

  test("after rotation both secrets work until the overlap deadline, then only the new one", () => {
    const { rotated, oldKey, newKeyValue, accept } = fixture();
    const deadline = T0 + 24 * HOUR;
    assert.equal(accept(rotated, newKeyValue, T0).ok, true);
    const old = accept(rotated, oldKey, deadline - 1);
    assert.equal(old.ok && old.viaPrevious, true);
    assert.deepEqual(accept(rotated, oldKey, deadline), { ok: false, reason: "rotated_out" });
    assert.deepEqual(accept(rotated, oldKey, deadline + HOUR), { ok: false, reason: "rotated_out" });
    assert.equal(accept(rotated, newKeyValue, deadline + HOUR).ok, true);
  });

  test("rotation with no overlap stops the old secret at once", () => {
    const { rotated, oldKey, accept } = fixture();
    const noOverlap = { ...rotated, previousHash: null, previousValidUntil: null };
    assert.deepEqual(accept(noOverlap, oldKey, T0), { ok: false, reason: "wrong_secret" });
  });

  test("expiry is checked against the clock on every call, for both secrets", () => {
    const { rotated, oldKey, newKeyValue, accept } = fixture();
    const expiring = { ...rotated, expiresAt: T0 + HOUR };
    assert.equal(accept(expiring, newKeyValue, T0 + HOUR - 1).ok, true);
    assert.deepEqual(accept(expiring, newKeyValue, T0 + HOUR), { ok: false, reason: "expired" });
    assert.deepEqual(accept(expiring, oldKey, T0 + HOUR), { ok: false, reason: "expired" });
  });

  test("a revoked key is refused with either secret", () => {
    const { rotated, oldKey, newKeyValue, accept } = fixture();
    const revoked = { ...rotated, revokedAt: T0 + 10 };
    assert.equal(accept(revoked, newKeyValue, T0 + 9).ok, true);
    assert.deepEqual(accept(revoked, newKeyValue, T0 + 10), { ok: false, reason: "revoked" });
    assert.deepEqual(accept(revoked, oldKey, T0 + 10), { ok: false, reason: "revoked" });
  });

  test("status for listing: active, rotating, expired, revoked", () => {
    const { base, rotated } = fixture();
    assert.equal(statusOf(base, T0), "active");
    assert.equal(statusOf(rotated, T0), "rotating");
    assert.equal(statusOf(rotated, T0 + 25 * HOUR), "active");
    assert.equal(statusOf({ ...base, expiresAt: T0 }, T0), "expired");
    assert.equal(statusOf({ ...rotated, revokedAt: T0 }, T0), "revoked");
  });
});
