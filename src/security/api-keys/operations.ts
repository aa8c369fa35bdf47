/**
 * Creating, rotating, revoking and listing keys: the rules live here once, on top of the store
 * contract, so the file, Redis and PostgreSQL stores behave the same. A new or rotated key is
 * returned to the caller exactly once and only its keyed hash is stored.
 *
 * Rotation and revocation read the record and write it back with compare-and-set on its
 * revision; when another process changed it in between, they read again (a few times).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BulwarkError } from "../../errors.js";
import { isKeyId, newKey, newKeyId } from "./key-format.js";
import { encodeDigest, keyDigest, type Pepper } from "./key-hash.js";
import { type ApiKeyRecord, MAX_NAME_LENGTH, SCOPE } from "./record.js";
import type { ApiKeyStore } from "./store.js";

// Each round of contention has one winner; enough rounds for a handful of operators racing.
const CAS_ATTEMPTS = 20;

export interface CreateOptions {
  readonly name: string;
  readonly scopes: readonly string[];
  /** Epoch milliseconds, or null for a key that does not expire. */
  readonly expiresAt: number | null;
  readonly now?: number;
}

export interface IssuedKey {
  /** The full key: show it once, never store or log it. */
  readonly key: string;
  readonly record: ApiKeyRecord;
}

export async function createKey(
  store: ApiKeyStore,
  pepper: Pepper,
  options: CreateOptions,
): Promise<IssuedKey> {
  const now = options.now ?? Date.now();
  validateName(options.name);
  validateScopes(options.scopes);
  if (options.expiresAt !== null && options.expiresAt <= now) {
    throw new BulwarkError("usage", "the expiry must be in the future");
  }
  // 60-bit random ids practically never collide; when one does, draw again.
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const id = newKeyId();
    const key = newKey(id);
    const record: ApiKeyRecord = {
      id,
      name: options.name,
      hash: encodeDigest(keyDigest(pepper, key)),
      scopes: [...new Set(options.scopes)],
      createdAt: now,
      expiresAt: options.expiresAt,
      lastUsedAt: null,
      revokedAt: null,
      rotatedAt: null,
      previousHash: null,
      previousValidUntil: null,
      revision: 1,
    };
    if (await store.insert(record)) return { key, record };
  }
  throw new BulwarkError("api_key_refused", "could not allocate a unique key id; try again");
}

export interface RotateOptions {
  /** How long the replaced secret stays valid, in milliseconds; 0 ends it at once. */
  readonly overlap: number;
  readonly now?: number;
}

export interface RotatedKey extends IssuedKey {
  /** True when an earlier rotation's overlap was still running and has been cut short. */
  readonly cutShortOverlap: boolean;
}

export async function rotateKey(
  store: ApiKeyStore,
  pepper: Pepper,
  id: string,
  options: RotateOptions,
): Promise<RotatedKey> {
  return withRecord(
    store,
    id,
    (record, now) => {
      if (record.revokedAt !== null) throw refused(`key ${id} is revoked; create a new key instead`);
      if (record.expiresAt !== null && record.expiresAt <= now) {
        throw refused(`key ${id} has expired; create a new key instead`);
      }
      const key = newKey(id);
      const cutShortOverlap = record.previousValidUntil !== null && record.previousValidUntil > now;
      const next: ApiKeyRecord = {
        ...record,
        hash: encodeDigest(keyDigest(pepper, key)),
        rotatedAt: now,
        previousHash: options.overlap > 0 ? record.hash : null,
        previousValidUntil: options.overlap > 0 ? now + options.overlap : null,
        revision: record.revision + 1,
      };
      return { next, result: { key, record: next, cutShortOverlap } };
    },
    options.now,
  );
}

export interface RevokeResult {
  readonly record: ApiKeyRecord;
  /** False when the key was already revoked (revoking is idempotent). */
  readonly changed: boolean;
}

export async function revokeKey(store: ApiKeyStore, id: string, now?: number): Promise<RevokeResult> {
  return withRecord<RevokeResult>(
    store,
    id,
    (record, at) => {
      if (record.revokedAt !== null) return { next: undefined, result: { record, changed: false } };
      const next: ApiKeyRecord = { ...record, revokedAt: at, revision: record.revision + 1 };
      return { next, result: { record: next, changed: true } };
    },
    now,
  );
}

export async function listKeys(store: ApiKeyStore): Promise<ApiKeyRecord[]> {
  return store.list();
}

async function withRecord<T>(
  store: ApiKeyStore,
  id: string,
  change: (record: ApiKeyRecord, now: number) => { next: ApiKeyRecord | undefined; result: T },
  now?: number,
): Promise<T> {
  if (!isKeyId(id)) {
    throw new BulwarkError(
      "usage",
      `${JSON.stringify(id.slice(0, 40))} is not a key id; ids are the 12 characters after bwk_ (see \`bulwark keys list\`)`,
    );
  }
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const record = await store.get(id);
    if (!record)
      throw new BulwarkError("api_key_not_found", `no key with id ${id}; see \`bulwark keys list\``);
    const { next, result } = change(record, now ?? Date.now());
    if (next === undefined || (await store.replace(next, record.revision))) return result;
    // Jittered backoff, so the losers of a race do not collide again in lockstep.
    await sleep(Math.random() * 10 * (attempt + 1));
  }
  throw refused(`key ${id} kept changing while it was being updated; try again`);
}

function refused(message: string): BulwarkError {
  return new BulwarkError("api_key_refused", message);
}

function validateName(name: string): void {
  if (name.trim() === "" || name.length > MAX_NAME_LENGTH || /[\p{Cc}]/u.test(name)) {
    throw new BulwarkError(
      "usage",
      `--name must be 1 to ${MAX_NAME_LENGTH} printable characters (got ${name.length} characters)`,
    );
  }
}

function validateScopes(scopes: readonly string[]): void {
  const bad = scopes.find((scope) => !SCOPE.test(scope));
  if (bad !== undefined) {
    throw new BulwarkError(
      "usage",
      `scope ${JSON.stringify(bad.slice(0, 60))} is invalid; scopes are 1 to 128 of A-Z a-z 0-9 _ . : * / -`,
    );
  }
}
