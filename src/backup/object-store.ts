/**
 * Where a repository keeps its bytes: a flat namespace of keys ("<id>/manifest.json",
 * "wal/000000010000000000000003.bwenc") over a local directory (local-object-store.ts) or an
 * S3-compatible bucket (s3-object-store.ts). The backup semantics — manifest last, incomplete
 * backups, removal order — live once, in repository.ts, on top of this interface.
 *
 * What every implementation guarantees:
 * - `put` is atomic and durable: a reader sees the old object, nothing, or the whole new one
 *   (local: temp file, fsync, rename, directory fsync; S3: a single PUT is atomic).
 * - `createWriteStream` makes the object complete only when the stream finishes without error;
 *   a stream destroyed with an error never leaves a complete object that looks finished (local:
 *   the partial file stays until the backup directory is removed, and no manifest names it; S3:
 *   the multipart upload is aborted, and a killed process leaves only invisible parts).
 * - `get`/`open` return null for a missing key, never an empty object.
 */
import type { Readable, Writable } from "node:stream";

export interface StoredObject {
  /** Key relative to the store (no leading "/"). */
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

export interface ObjectStore {
  /** Where it is, for messages and reports: a directory path or s3://bucket/prefix. */
  readonly location: string;
  /** The same store under `prefix/` (base backups, the WAL archive). */
  child(prefix: string): ObjectStore;
  /** Writes a small object atomically and durably. */
  put(key: string, content: Buffer | string): Promise<void>;
  /** A large object, streamed; it is complete only once the stream has finished. */
  createWriteStream(key: string): Writable;
  /** The object's content, or null when there is no such key. */
  get(key: string): Promise<Buffer | null>;
  /** A stream of the object's content, or null when there is no such key. */
  open(key: string): Promise<Readable | null>;
  /** Every object whose key starts with `prefix` (recursive), sorted by key. */
  list(prefix: string): Promise<StoredObject[]>;
  /** The names of the "directories" directly under the store: keys' first path segments. */
  listChildren(): Promise<string[]>;
  /** Removes these keys (missing ones are fine), durably. */
  delete(keys: readonly string[]): Promise<void>;
  /** Removes every object under `prefix/` (a backup's directory). */
  deletePrefix(prefix: string): Promise<void>;
}

/** The key of `file` inside backup `id`. */
export function objectKey(id: string, file: string): string {
  return `${id}/${file}`;
}
