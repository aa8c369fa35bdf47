/**
 * WAL archiving into the repository, for point-in-time recovery: `archive_command = 'bulwark wal
 * push %p …'` encrypts each segment into `<repo>/wal/<name>.bwenc` (same format and key as the
 * backups), and the restore_command Bulwark writes runs `bulwark wal fetch %f %p …`.
 *
 * PostgreSQL's rules for these commands ("Continuous Archiving and Point-in-Time Recovery"):
 * exit 0 only once the file is safely stored; never overwrite an archived file with different
 * content, but succeed when the same content is archived again (after a crash between storing and
 * reporting); restore_command exits non-zero for a file that is not in the archive, which is
 * how recovery learns it reached the end.
 */
import { createWriteStream, renameSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BulwarkError } from "../errors.js";
import { createDecryptStream, createEncryptStream } from "./artifact-crypto.js";
import type { BackupKey } from "./backup-key.js";
import { type BackupKeys, keyForArtifact, primaryKey } from "./key-ring.js";
import type { ObjectStore } from "./object-store.js";

/** Segments, partial segments, backup history and timeline history files. */
const WAL_NAME = /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

/** Archived WAL lives under `wal/` in the repository: `wal/<name>.bwenc`. */
export function walKey(name: string): string {
  return `wal/${name}.bwenc`;
}

function checkName(name: string): void {
  if (!WAL_NAME.test(name)) {
    throw new BulwarkError(
      "usage",
      `${JSON.stringify(name)} is not a WAL file name (such as 000000010000000000000003)`,
    );
  }
}

function collect(parts: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
}

export async function encryptToBuffer(content: Buffer, key: BackupKey): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from([content]), await createEncryptStream(key), collect(parts));
  return Buffer.concat(parts);
}

export async function decryptToBuffer(encrypted: Buffer, key: BackupKey): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from([encrypted]), createDecryptStream(key), collect(parts));
  return Buffer.concat(parts);
}

/**
 * Archives one WAL file; "stored", or "already archived" when the same content is there. The
 * encrypted segment (16 MiB by default) is written with one atomic put: a local temp file,
 * fsync and rename, or one S3 PUT, so an archived name never holds half a segment. With several
 * keys (a key rotation, `bulwark backup rekey`), the first encrypts and the archived copy is
 * compared under whichever key it names.
 */
export async function pushWal(
  store: ObjectStore,
  keys: BackupKeys,
  walPath: string,
): Promise<"stored" | "already archived"> {
  const name = basename(walPath);
  checkName(name);
  let content: Buffer;
  try {
    content = await readFile(walPath);
  } catch (error) {
    throw new BulwarkError(
      "backup_failed",
      `cannot read WAL file ${walPath} (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  const archived = await store.get(walKey(name));
  if (archived) {
    const key = keyForArtifact(keys, archived, `the archived ${name}`);
    if ((await decryptToBuffer(archived, key)).equals(content)) return "already archived";
    throw new BulwarkError(
      "backup_failed",
      `${name} is already archived with different content; refusing to overwrite it (two clusters archiving into one repository?)`,
    );
  }
  await store.put(walKey(name), await encryptToBuffer(content, primaryKey(keys)));
  return "stored";
}

/**
 * Restores one archived WAL file to `destination`; false when it is not in the archive. With
 * several keys, the one the archived file names decrypts it (segments under the old and the new
 * key during a key rotation).
 */
export async function fetchWal(
  store: ObjectStore,
  keys: BackupKeys,
  name: string,
  destination: string,
): Promise<boolean> {
  checkName(name);
  const archived = await store.get(walKey(name));
  if (!archived) return false;
  const key = keyForArtifact(keys, archived, `the archived ${name}`);
  const temp = join(dirname(destination), `.${basename(destination)}.${process.pid}.tmp`);
  try {
    await pipeline(
      Readable.from([archived]),
      createDecryptStream(key),
      createWriteStream(temp, { mode: 0o600 }),
    );
    renameSync(temp, destination);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  return true;
}

export interface ArchivedWal {
  /** File name without .bwenc. */
  readonly name: string;
  /** When it was stored (file mtime, S3 LastModified). */
  readonly archivedAt: Date;
}

/** Archived WAL files, sorted by name. */
export async function listArchivedWal(store: ObjectStore): Promise<ArchivedWal[]> {
  return (await store.list("wal/"))
    .map((object) => ({ name: object.key.slice("wal/".length), archivedAt: object.modified }))
    .filter((wal) => wal.name.endsWith(".bwenc"))
    .map((wal) => ({ ...wal, name: wal.name.slice(0, -".bwenc".length) }))
    .filter((wal) => WAL_NAME.test(wal.name));
}

/**
 * Archived WAL that no base backup from `oldestStartSegment` on needs: segments, partial
 * segments and backup history files whose position (log and segment number, on any timeline)
 * is before it. Timeline history files are always kept (they are tiny and every later timeline
 * needs them).
 */
export function walBefore(names: readonly string[], oldestStartSegment: string): string[] {
  const cutoff = oldestStartSegment.slice(8, 24);
  return names.filter((name) => !name.endsWith(".history") && name.slice(8, 24) < cutoff);
}

export async function removeArchivedWal(store: ObjectStore, names: readonly string[]): Promise<void> {
  await store.delete(names.map(walKey));
}
