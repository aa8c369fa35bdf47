/**
 * Keys are stored only as HMAC-SHA256(pepper, key) (RFC 2104). The pepper is a server-side
 * secret that never sits next to the hashes (a `${file:}` reference, not the store), so a leaked
 * store — a backup, a Redis dump, a copied keys file — does not let anyone test guesses offline.
 * A slow password hash (scrypt, Argon2) is not needed: keys carry 256 random bits, nothing to
 * brute-force, and the gateway hashes on every uncached request.
 *
 * Digests are compared with crypto.timingSafeEqual, so the time taken does not reveal how many
 * leading bytes of a guess were right.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import { BulwarkError } from "../../errors.js";

export const MIN_PEPPER_BYTES = 32;
export const DIGEST_BYTES = 32;

/** A validated pepper, held as bytes. */
export interface Pepper {
  readonly bytes: Buffer;
  /** Imported once: createHmac with a KeyObject skips copying the key on every request. */
  readonly key: KeyObject;
}

/** Checks the pepper's length; the error never contains the value. */
export function pepperFrom(value: string | Buffer, where = "the api key pepper"): Pepper {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  if (bytes.length < MIN_PEPPER_BYTES) {
    throw new BulwarkError(
      "api_key_pepper_invalid",
      `${where} has ${bytes.length} bytes; it needs at least ${MIN_PEPPER_BYTES} (create one with: openssl rand -base64 48 > pepper && chmod 600 pepper)`,
    );
  }
  return { bytes, key: createSecretKey(bytes) };
}

/** The keyed hash of a full presented key (prefix, id, secret and checksum). */
export function keyDigest(pepper: Pepper, key: string): Buffer {
  return createHmac("sha256", pepper.key).update(key).digest();
}

/** The stored form of a digest. */
export function encodeDigest(digest: Buffer): string {
  return digest.toString("base64url");
}

/** The stored form back to bytes; undefined when it is not a 32-byte digest. */
export function decodeDigest(encoded: string): Buffer | undefined {
  const bytes = Buffer.from(encoded, "base64url");
  return bytes.length === DIGEST_BYTES && encodeDigest(bytes) === encoded ? bytes : undefined;
}

/** Constant-time equality of two digests; digests of another length never match. */
export function digestsEqual(presented: Buffer, stored: Buffer): boolean {
  // timingSafeEqual throws on a length mismatch; both are 32-byte SHA-256 outputs in practice,
  // and the length itself is public.
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
