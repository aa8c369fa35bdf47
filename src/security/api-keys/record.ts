/**
 * An API key as stores hold it — never the key itself, only its keyed hash — and the one place
 * that decides whether a presented key's digest is accepted by a record (same semantics in every
 * store, because every store returns this shape).
 *
 * Rotation keeps the id and replaces the secret: the old digest moves to `previousHash` and stays
 * accepted until `previousValidUntil` (the overlap deadline), so clients can be redeployed with
 * the new key without an outage. One previous secret is kept: rotating again during an overlap
 * ends the older secret's overlap at once.
 */
import { z } from "zod";
import { isKeyId } from "./key-format.js";
import { decodeDigest, digestsEqual } from "./key-hash.js";

export interface ApiKeyRecord {
  readonly id: string;
  /** Operator-chosen label ("billing-service"); not unique. */
  readonly name: string;
  /** base64url HMAC-SHA256 of the current key. */
  readonly hash: string;
  readonly scopes: readonly string[];
  /** Times are epoch milliseconds. */
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
  readonly rotatedAt: number | null;
  /** Digest of the secret replaced by the last rotation, accepted until previousValidUntil. */
  readonly previousHash: string | null;
  readonly previousValidUntil: number | null;
  /** Bumped by every change except lastUsedAt; stores replace a record only at the revision read. */
  readonly revision: number;
}

/** What the gateway learns about an accepted key. */
export interface VerifiedKey {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  /** Epoch milliseconds; null when the key does not expire. */
  readonly expiresAt: number | null;
}

/** Why a well-formed key was refused; safe to log (never contains the key). */
export type RefusalReason = "unknown_id" | "wrong_secret" | "revoked" | "expired" | "rotated_out";

export const SCOPE = /^[A-Za-z0-9_.:*/-]{1,128}$/;
export const MAX_NAME_LENGTH = 200;

const timestamp = z.number().int().nonnegative();

/** Validates records read back from a store (a hand-edited file, a foreign row). */
export const storedRecordSchema = z.strictObject({
  id: z.string().refine(isKeyId, { message: "expected a 12-character key id" }),
  name: z.string().max(MAX_NAME_LENGTH),
  hash: z.string().refine((value) => decodeDigest(value) !== undefined, { message: "expected a digest" }),
  scopes: z.array(z.string().regex(SCOPE)),
  createdAt: timestamp,
  expiresAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable(),
  revokedAt: timestamp.nullable(),
  rotatedAt: timestamp.nullable(),
  previousHash: z
    .string()
    .refine((value) => decodeDigest(value) !== undefined, { message: "expected a digest" })
    .nullable(),
  previousValidUntil: timestamp.nullable(),
  revision: z.number().int().nonnegative(),
});

/** A record with digests decoded once, so checking a presented key is one HMAC and two compares. */
export interface CompiledRecord {
  readonly record: ApiKeyRecord;
  readonly digest: Buffer;
  readonly previousDigest: Buffer | null;
  readonly verified: VerifiedKey;
}

export function compileRecord(record: ApiKeyRecord): CompiledRecord {
  return {
    record,
    digest: decodeDigest(record.hash) ?? Buffer.alloc(0),
    previousDigest: record.previousHash === null ? null : (decodeDigest(record.previousHash) ?? null),
    verified: Object.freeze({
      id: record.id,
      name: record.name,
      scopes: Object.freeze([...record.scopes]),
      expiresAt: record.expiresAt,
    }),
  };
}

export type Acceptance =
  | { readonly ok: true; readonly key: VerifiedKey; readonly viaPrevious: boolean }
  | { readonly ok: false; readonly reason: RefusalReason };

/**
 * Whether `digest` (the HMAC of the presented key) is accepted by the record at `now`. Both
 * digests are always compared, so timing does not say which one matched.
 */
export function acceptDigest(compiled: CompiledRecord, digest: Buffer, now: number): Acceptance {
  const { record } = compiled;
  const current = digestsEqual(digest, compiled.digest);
  const previous = compiled.previousDigest !== null && digestsEqual(digest, compiled.previousDigest);
  if (!current && !previous) return { ok: false, reason: "wrong_secret" };
  if (record.revokedAt !== null && record.revokedAt <= now) return { ok: false, reason: "revoked" };
  if (record.expiresAt !== null && record.expiresAt <= now) return { ok: false, reason: "expired" };
  if (!current && (record.previousValidUntil === null || record.previousValidUntil <= now)) {
    return { ok: false, reason: "rotated_out" };
  }
  return { ok: true, key: compiled.verified, viaPrevious: !current };
}

export type KeyStatus = "active" | "rotating" | "expired" | "revoked";

/** The status `bulwark keys list` shows. */
export function statusOf(record: ApiKeyRecord, now: number): KeyStatus {
  if (record.revokedAt !== null && record.revokedAt <= now) return "revoked";
  if (record.expiresAt !== null && record.expiresAt <= now) return "expired";
  if (record.previousHash !== null && record.previousValidUntil !== null && record.previousValidUntil > now) {
    return "rotating";
  }
  return "active";
}
