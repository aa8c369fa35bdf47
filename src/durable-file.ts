/**
 * Durable, atomic file replacement, for everything Bulwark writes that a reader must never see
 * half-written or lose after a crash (backup manifests, API key files, reports, evidence, keys):
 * write a temp file in the same directory, fsync it, rename it over the target, fsync the
 * directory. Rename is atomic on POSIX, and the directory fsync makes the new entry survive a
 * power loss (see ext4's and PostgreSQL's durable_rename()).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

export interface DurableWriteOptions {
  /** File mode of a new file (default 0600: most of what Bulwark writes is private). */
  readonly mode?: number;
  /** Create missing parent directories first. */
  readonly createParents?: boolean;
}

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir -p, one level at a time: Node 20's recursive mkdirSync spins forever on some virtual
 * file systems (/proc), where a plain mkdir fails at once.
 */
export function makeParents(dir: string): void {
  const missing: string[] = [];
  for (let current = dir; !existsSync(current); current = dirname(current)) {
    missing.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const path of missing) mkdirSync(path);
}

export function writeFileDurable(
  file: string,
  content: string | Buffer,
  options: DurableWriteOptions = {},
): void {
  if (options.createParents) makeParents(dirname(file));
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const fd = openSync(temp, "w", options.mode ?? 0o600);
    try {
      writeSync(fd, typeof content === "string" ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  fsyncDirectory(dirname(file));
}

export function writeJsonDurable(file: string, value: unknown, options: DurableWriteOptions = {}): void {
  writeFileDurable(file, `${JSON.stringify(value, null, 2)}\n`, options);
}
