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
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fsyncDirectory } from "../durable-file.js";
import { BulwarkError } from "../errors.js";
import { createDecryptStream, createEncryptStream } from "./artifact-crypto.js";
import type { BackupKey } from "./backup-key.js";

/** Segments, partial segments, backup history and timeline history files. */
const WAL_NAME = /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

export function walDirectory(repoRoot: string): string {
  return join(repoRoot, "wal");
}

function checkName(name: string): void {
  if (!WAL_NAME.test(name)) {
    throw new BulwarkError(
      "usage",
      `${JSON.stringify(name)} is not a WAL file name (such as 000000010000000000000003)`,
    );
  }
}

async function decryptToBuffer(file: string, key: BackupKey): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    createReadStream(file),
    createDecryptStream(key),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(parts);
}

/** Archives one WAL file; "stored", or "already archived" when the same content is there. */
export async function pushWal(
  repoRoot: string,
  key: BackupKey,
  walPath: string,
): Promise<"stored" | "already archived"> {
  const name = basename(walPath);
  checkName(name);
  let content: Buffer;
  try {
    content = readFileSync(walPath);
  } catch (error) {
    throw new BulwarkError(
      "backup_failed",
      `cannot read WAL file ${walPath} (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  const dir = walDirectory(repoRoot);
  const target = join(dir, `${name}.bwenc`);
  if (existsSync(target)) {
    const archived = await decryptToBuffer(target, key);
    if (archived.equals(content)) return "already archived";
    throw new BulwarkError(
      "backup_failed",
      `${name} is already archived with different content; refusing to overwrite it (two clusters archiving into one repository?)`,
    );
  }
  const temp = join(dir, `.${name}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await pipeline(
      Readable.from([content]),
      await createEncryptStream(key),
      createWriteStream(temp, { flags: "wx", mode: 0o600, flush: true }),
    );
    renameSync(temp, target);
    fsyncDirectory(dir);
  } catch (error) {
    rmSync(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EDQUOT") {
      throw new BulwarkError(
        "backup_repo_full",
        `repository ${repoRoot} is full (${code}); ${name} was not archived`,
      );
    }
    throw error;
  }
  return "stored";
}

/** Restores one archived WAL file to `destination`; false when it is not in the archive. */
export async function fetchWal(
  repoRoot: string,
  key: BackupKey,
  name: string,
  destination: string,
): Promise<boolean> {
  checkName(name);
  const source = join(walDirectory(repoRoot), `${name}.bwenc`);
  if (!existsSync(source)) return false;
  const temp = join(dirname(destination), `.${basename(destination)}.${process.pid}.tmp`);
  try {
    await pipeline(
      createReadStream(source),
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

/** Archived WAL file names (without .bwenc), sorted. */
export function listArchivedWal(repoRoot: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(walDirectory(repoRoot));
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.endsWith(".bwenc"))
    .map((entry) => entry.slice(0, -".bwenc".length))
    .filter((name) => WAL_NAME.test(name))
    .sort();
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

export function removeArchivedWal(repoRoot: string, names: readonly string[]): void {
  const dir = walDirectory(repoRoot);
  for (const name of names) rmSync(join(dir, `${name}.bwenc`), { force: true });
  if (names.length > 0) fsyncDirectory(dir);
}
