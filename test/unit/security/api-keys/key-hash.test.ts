/**
 * Keyed hashing: HMAC-SHA256 with the pepper (RFC 2104 test vector and a cross-check against
 * node:crypto), the pepper's minimum size, digest encoding, and constant-time comparison.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { isBulwarkError } from "../../../../src/errors.js";
import { newKey, newKeyId } from "../../../../src/security/api-keys/key-format.js";
import {
  decodeDigest,
  digestsEqual,
  encodeDigest,
  keyDigest,
  pepperFrom,
} from "../../../../src/security/api-keys/key-hash.js";

const PEPPER = pepperFrom("p".repeat(32));

describe("api key hashing", () => {
  test("the digest is HMAC-SHA256 keyed with the pepper over the whole key", () => {
    const key = newKey(newKeyId());
    const expected = createHmac("sha256", "p".repeat(32)).update(key).digest();
    assert.deepEqual(keyDigest(PEPPER, key), expected);
    // RFC 4231 §4.7 (test case 6): a 131-byte key, hashed first because it exceeds the block size.
    const rfc = keyDigest(
      pepperFrom(Buffer.alloc(131, 0xaa)),
      "Test Using Larger Than Block-Size Key - Hash Key First",
    );
    assert.equal(rfc.toString("hex"), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  });

  test("another pepper gives another digest, so a leaked store is useless without the pepper", () => {
    const key = newKey(newKeyId());
    assert.notDeepEqual(keyDigest(PEPPER, key), keyDigest(pepperFrom("q".repeat(32)), key));
  });

  test("a pepper shorter than 32 bytes is refused without echoing it", () => {
    const secret = "short-secret-value";
    assert.throws(
      () => pepperFrom(secret),
      (error: unknown) =>
        isBulwarkError(error) &&
        error.code === "api_key_pepper_invalid" &&
        /18 bytes; it needs at least 32/.test(error.message) &&
        !error.message.includes(secret),
    );
    // Bytes, not characters: 16 two-byte characters are 32 bytes.
    assert.doesNotThrow(() => pepperFrom("é".repeat(16)));
  });

  test("digests round-trip through their stored form; anything else does not decode", () => {
    const digest = keyDigest(PEPPER, newKey(newKeyId()));
    assert.deepEqual(decodeDigest(encodeDigest(digest)), digest);
    assert.equal(decodeDigest("short"), undefined);
    assert.equal(decodeDigest(`${encodeDigest(digest)}A`), undefined);
    assert.equal(decodeDigest(encodeDigest(Buffer.alloc(31))), undefined);
  });

  test("digestsEqual compares whole digests and refuses other lengths without throwing", () => {
    const a = keyDigest(PEPPER, newKey(newKeyId()));
    const samePrefix = Buffer.from(a);
    samePrefix[31] = samePrefix[31]! ^ 1;
    assert.equal(digestsEqual(a, Buffer.from(a)), true);
    assert.equal(digestsEqual(a, samePrefix), false);
    assert.equal(digestsEqual(a, a.subarray(0, 16)), false);
    assert.equal(digestsEqual(a, Buffer.alloc(0)), false);
  });

  test("secret digests are compared only with crypto.timingSafeEqual", () => {
    // Timing cannot be asserted reliably on a shared CI machine; instead, pin the implementation:
    // the comparison must go through timingSafeEqual, and no digest is compared with ===, equals
    // or compare anywhere in the api-keys code.
    const hashSource = readFileSync(
      new URL("../../../../src/security/api-keys/key-hash.ts", import.meta.url),
      "utf8",
    );
    assert.match(hashSource, /timingSafeEqual\(presented, stored\)/);
    for (const file of ["key-hash.ts", "record.ts", "verifier.ts", "operations.ts"]) {
      const source = readFileSync(
        new URL(`../../../../src/security/api-keys/${file}`, import.meta.url),
        "utf8",
      );
      assert.doesNotMatch(source, /(digest|hash|Hash)\w*\s*[!=]==?\s*\w*(digest|hash|Hash)/, file);
      assert.doesNotMatch(source, /\.(equals|compare)\(/, file);
    }
  });
});
