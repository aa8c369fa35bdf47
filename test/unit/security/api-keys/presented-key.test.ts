/** Reading the presented key from a header value, and telling it apart from a JWT. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { newKey, newKeyId, parseKey } from "../../../../src/security/api-keys/key-format.js";
import { looksLikeApiKey, presentedKey } from "../../../../src/security/api-keys/presented-key.js";

describe("presented api key", () => {
  const key = newKey(newKeyId());

  test("a dedicated header carries the key as is (trimmed)", () => {
    assert.equal(presentedKey("x-api-key", key), key);
    assert.equal(presentedKey("X-Api-Key", ` ${key} `), key);
    assert.equal(presentedKey("x-api-key", undefined), null);
    assert.equal(presentedKey("x-api-key", "  "), null);
  });

  test("Authorization: Bearer takes only bwk_ tokens, so JWTs stay with the JWT method", () => {
    assert.equal(presentedKey("authorization", `Bearer ${key}`), key);
    assert.equal(presentedKey("authorization", `bearer   ${key}`), key);
    assert.equal(presentedKey("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"), null);
    assert.equal(presentedKey("authorization", `Basic ${key}`), null);
    assert.equal(looksLikeApiKey(key), true);
    assert.equal(looksLikeApiKey("eyJhbGciOiJSUzI1NiJ9.e30.sig"), false);
  });

  test("a repeated header is refused as malformed, a huge one as oversized, without copying it whole", () => {
    const repeated = presentedKey("x-api-key", [key, key]);
    assert.deepEqual(parseKey(repeated!), { ok: false, reason: "malformed" });
    const huge = presentedKey("x-api-key", key + "A".repeat(1_000_000));
    assert.ok(huge!.length < 400);
    assert.deepEqual(parseKey(huge!), { ok: false, reason: "oversized" });
    const hugeBearer = presentedKey("authorization", `Bearer ${key}${"A".repeat(1_000_000)}`);
    assert.deepEqual(parseKey(hugeBearer!), { ok: false, reason: "oversized" });
  });
});
