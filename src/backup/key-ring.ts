/**
 * Several backup keys at once, during a key rotation: a repository being re-encrypted
 * (`bulwark backup rekey`) holds artifacts under the old key and under the new one, and WAL
 * archiving and fetching must read both. Each artifact names its key id in its header
 * (artifact-header.ts), so the right key is picked by id; no key is tried blindly.
 */
import { BulwarkError } from "../errors.js";
import { HEADER_LENGTH, parseHeader } from "./artifact-header.js";
import type { BackupKey } from "./backup-key.js";

/** One key, or several (the first one encrypts; any of them decrypts what it made). */
export type BackupKeys = BackupKey | readonly BackupKey[];

export function keyList(keys: BackupKeys): readonly BackupKey[] {
  return Array.isArray(keys) ? keys : [keys as BackupKey];
}

/** The key that encrypts new artifacts: the first one. */
export function primaryKey(keys: BackupKeys): BackupKey {
  const first = keyList(keys)[0];
  if (!first) throw new BulwarkError("internal", "no backup key given");
  return first;
}

/**
 * The key that opens an artifact whose first bytes are `head`. Throws backup_wrong_key naming
 * the artifact's key id and the ids given (ids reveal nothing about the keys), backup_corrupt or
 * backup_truncated for a bad header.
 */
export function keyForArtifact(keys: BackupKeys, head: Buffer, what = "the artifact"): BackupKey {
  return keyForId(keys, parseHeader(head.subarray(0, HEADER_LENGTH)).keyId, what);
}

/**
 * The key with id `keyId` (a manifest's or an artifact header's). Throws backup_wrong_key naming
 * `what`, its key id and the ids given (ids reveal nothing about the keys).
 */
export function keyForId(keys: BackupKeys, keyId: string, what: string): BackupKey {
  const list = keyList(keys);
  const key = list.find((candidate) => candidate.id === keyId);
  if (key) return key;
  const given = list.map((candidate) => candidate.id).join(", ");
  throw new BulwarkError(
    "backup_wrong_key",
    `wrong key: ${what} was encrypted with key ${keyId}, the key${list.length === 1 ? "" : "s"} given ${list.length === 1 ? "is" : "are"} ${given}`,
  );
}
