/**
 * The API key format (docs/security-model.md#api-keys):
 *
 *     bwk_<id>_<secret><checksum>
 *     bwk_k3x7qm2a9fzt_4f0Zq…(43 chars)…Ab12cD
 *
 * - `bwk_`: a fixed prefix, so secret scanners (GitHub push protection, gitleaks, trufflehog) can
 *   find leaked keys with one pattern, and so a key is recognisable in a header or a log line.
 * - id: 12 characters of lowercase RFC 4648 base32 (60 random bits). Not secret: it names the key
 *   in `bulwark keys list`, logs and audit records, and is the store lookup key.
 * - secret: 43 base62 characters, 256 bits from crypto.randomBytes (62^43 > 2^256).
 * - checksum: CRC32 of everything before it, as 6 base62 characters, the way GitHub's tokens end
 *   (github.blog, "Behind GitHub's new authentication token formats", 2021): a typo or an
 *   obviously made-up string is refused before any store lookup, and scanners can tell a real
 *   key from a random match without asking us. The checksum is not a security control (anyone can
 *   compute it); the secret is.
 *
 * Underscores separate the parts and appear nowhere else, so a double click selects a whole key.
 */
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

export const KEY_PREFIX = "bwk_";
export const ID_LENGTH = 12;
export const SECRET_LENGTH = 43;
export const CHECKSUM_LENGTH = 6;
/** Every key has exactly this length. */
export const KEY_LENGTH = KEY_PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH;
/**
 * Longest input the parser looks at: anything longer is refused before any other work, so an
 * attacker cannot make the gateway scan or hash megabytes per request.
 */
export const MAX_PRESENTED_LENGTH = 256;

/** For secret scanners and docs: matches a key anywhere in text. */
export const KEY_PATTERN = /\bbwk_[a-z2-7]{12}_[0-9A-Za-z]{49}\b/g;

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SHAPE = /^bwk_([a-z2-7]{12})_([0-9A-Za-z]{49})$/;
const ID_SHAPE = /^[a-z2-7]{12}$/;

export type ParsedKey =
  | { readonly ok: true; readonly id: string }
  | { readonly ok: false; readonly reason: KeyFormatReason };

/** Why a presented string is not a key; safe to log (never contains the input). */
export type KeyFormatReason = "oversized" | "malformed" | "bad_checksum";

export function isKeyId(text: string): boolean {
  return ID_SHAPE.test(text);
}

/** A new random key id. */
export function newKeyId(): string {
  // 32 divides 256, so masking 5 bits of each byte keeps the characters uniform.
  const bytes = randomBytes(ID_LENGTH);
  let id = "";
  for (const byte of bytes) id += BASE32[byte & 31];
  return id;
}

/** A new key for `id`: a fresh 256-bit secret and its checksum. */
export function newKey(id: string): string {
  if (!isKeyId(id)) throw new TypeError("invalid key id");
  const body = `${KEY_PREFIX}${id}_${randomBase62(SECRET_LENGTH)}`;
  return body + checksumOf(body);
}

/**
 * Reads a presented key: its id when the shape and checksum are right. Cheap and allocation-light
 * (one regex and one CRC32 over 60 bytes); the length bound is checked before anything else.
 */
export function parseKey(presented: string): ParsedKey {
  if (presented.length > MAX_PRESENTED_LENGTH) return { ok: false, reason: "oversized" };
  if (presented.length !== KEY_LENGTH) return { ok: false, reason: "malformed" };
  const match = SHAPE.exec(presented);
  if (!match) return { ok: false, reason: "malformed" };
  const split = KEY_LENGTH - CHECKSUM_LENGTH;
  if (checksumOf(presented.slice(0, split)) !== presented.slice(split)) {
    return { ok: false, reason: "bad_checksum" };
  }
  return { ok: true, id: match[1]! };
}

/** CRC32 of the key body, as fixed-width base62. */
export function checksumOf(body: string): string {
  let value = crc32(body);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62]! + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** Uniform base62 by rejection sampling: bytes ≥ 248 (= 4 × 62) are dropped, so `% 62` has no bias. */
function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= 248) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}
