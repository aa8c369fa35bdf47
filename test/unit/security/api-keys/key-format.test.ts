/**
 * The key format: shape, checksum, randomness, and a bounded fuzz of the parser (it must return
 * a reason, never throw, and never accept anything whose checksum does not match).
 */
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { describe, test } from "node:test";
import {
  CHECKSUM_LENGTH,
  checksumOf,
  isKeyId,
  KEY_LENGTH,
  KEY_PATTERN,
  MAX_PRESENTED_LENGTH,
  newKey,
  newKeyId,
  parseKey,
} from "../../../../src/security/api-keys/key-format.js";

describe("api key format", () => {
  test("a new key is bwk_<12 base32 id>_<43 base62 secret><6 base62 checksum> and parses to its id", () => {
    const id = newKeyId();
    assert.ok(isKeyId(id), id);
    const key = newKey(id);
    assert.equal(key.length, KEY_LENGTH);
    assert.match(key, /^bwk_[a-z2-7]{12}_[0-9A-Za-z]{49}$/);
    assert.ok(key.startsWith(`bwk_${id}_`));
    assert.deepEqual(parseKey(key), { ok: true, id });
  });

  test("secrets differ between keys of the same id and look uniformly random", () => {
    const id = newKeyId();
    const keys = new Set(Array.from({ length: 2000 }, () => newKey(id)));
    assert.equal(keys.size, 2000);
    // Every base62 character shows up across 2000 × 43 draws; a broken sampler (bytes % 62 on a
    // subset, a constant) would leave some out or skew the counts badly.
    const counts = new Map<string, number>();
    for (const key of keys) {
      for (const char of key.slice(17, 17 + 43)) counts.set(char, (counts.get(char) ?? 0) + 1);
    }
    assert.equal(counts.size, 62);
    const expected = (2000 * 43) / 62;
    for (const [char, count] of counts) {
      assert.ok(count > expected * 0.8 && count < expected * 1.2, `${char}: ${count} vs ${expected}`);
    }
  });

  test("ids are 12 lowercase base32 characters and do not repeat", () => {
    const ids = new Set(Array.from({ length: 5000 }, newKeyId));
    assert.equal(ids.size, 5000);
    for (const id of ids) assert.match(id, /^[a-z2-7]{12}$/);
  });

  test("a one-character typo anywhere is caught by the checksum or the shape", () => {
    const key = newKey(newKeyId());
    for (let i = 4; i < key.length; i++) {
      if (key[i] === "_") continue;
      const replacement = key[i] === "a" ? "b" : "a";
      const typo = key.slice(0, i) + replacement + key.slice(i + 1);
      const parsed = parseKey(typo);
      assert.equal(parsed.ok, false, `typo at ${i} accepted`);
    }
    const swapped = key.slice(0, 20) + key[21] + key[20] + key.slice(22);
    if (swapped !== key) assert.deepEqual(parseKey(swapped), { ok: false, reason: "bad_checksum" });
  });

  test("the checksum is CRC32 of the body in 6 base62 characters", () => {
    const key = newKey(newKeyId());
    const body = key.slice(0, KEY_LENGTH - CHECKSUM_LENGTH);
    assert.equal(key.slice(-CHECKSUM_LENGTH), checksumOf(body));
    assert.match(checksumOf(""), /^0{6}$/);
  });

  test("refusal reasons: oversized first, then shape, then checksum", () => {
    const key = newKey(newKeyId());
    assert.deepEqual(parseKey("x".repeat(MAX_PRESENTED_LENGTH + 1)), { ok: false, reason: "oversized" });
    assert.deepEqual(parseKey(key + "x".repeat(1_000_000)), { ok: false, reason: "oversized" });
    assert.deepEqual(parseKey(""), { ok: false, reason: "malformed" });
    assert.deepEqual(parseKey(key.slice(0, -1)), { ok: false, reason: "malformed" });
    assert.deepEqual(parseKey(key.replace("bwk_", "bwx_")), { ok: false, reason: "malformed" });
    assert.deepEqual(parseKey(key.toUpperCase()), { ok: false, reason: "malformed" });
    assert.deepEqual(parseKey(` ${key.slice(1)}`), { ok: false, reason: "malformed" });
    const badSum = key.slice(0, -6) + (key.slice(-6) === "000000" ? "000001" : "000000");
    assert.deepEqual(parseKey(badSum), { ok: false, reason: "bad_checksum" });
  });

  test("secret scanners find keys in text with the documented pattern", () => {
    const a = newKey(newKeyId());
    const b = newKey(newKeyId());
    const text = `export API_KEY=${a}\n{"key":"${b}"} bwk_short_x`;
    assert.deepEqual(text.match(KEY_PATTERN), [a, b]);
  });

  test("fuzz: random and mutated input never throws and is never accepted without a valid checksum", () => {
    const deadline = Date.now() + 2000;
    const seed = newKey(newKeyId());
    const alphabet = "bwk_az27AZ09-+/=\u0000\u00ff\u{1F600} \t\n";
    let runs = 0;
    while (Date.now() < deadline) {
      runs++;
      let input: string;
      switch (runs % 4) {
        case 0:
          input = randomBytes(randomInt(0, 300)).toString("latin1");
          break;
        case 1: {
          // Mutate a valid key: flip, insert or delete characters.
          const chars = [...seed];
          for (let n = randomInt(1, 4); n > 0; n--) {
            const at = randomInt(0, chars.length);
            const op = randomInt(0, 3);
            const char = alphabet[randomInt(0, alphabet.length)]!;
            if (op === 0) chars[at] = char;
            else if (op === 1) chars.splice(at, 0, char);
            else chars.splice(at, 1);
          }
          input = chars.join("");
          break;
        }
        case 2:
          input = `bwk_${randomBytes(randomInt(0, 80)).toString("base64url")}`;
          break;
        default:
          input = Array.from(
            { length: randomInt(0, 600) },
            () => alphabet[randomInt(0, alphabet.length)],
          ).join("");
      }
      const parsed = parseKey(input);
      if (parsed.ok) {
        assert.equal(input.length, KEY_LENGTH);
        assert.equal(input.slice(-6), checksumOf(input.slice(0, -6)), `accepted without checksum: ${input}`);
        assert.equal(input, seed, "a mutation that keeps shape and checksum is astronomically unlikely");
      } else {
        assert.ok(["oversized", "malformed", "bad_checksum"].includes(parsed.reason));
        if (input.length > MAX_PRESENTED_LENGTH) assert.equal(parsed.reason, "oversized");
      }
    }
    assert.ok(runs > 1000, `only ${runs} fuzz runs`);
  });
});
