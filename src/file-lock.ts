/**
 * A lock file next to the keys file, so two `bulwark keys` invocations (or a CLI and a gateway
 * writing last-used times) never interleave their read-modify-write and lose an update.
 *
 * `open(…, "wx")` is O_CREAT|O_EXCL: atomic on local filesystems, exactly one process creates
 * the file. The holder writes its pid; a lock older than STALE_MS whose pid is not alive is a
 * leftover from a killed process and is removed. The critical section is one small JSON
 * read-modify-write, far shorter than STALE_MS.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BulwarkError } from "../../errors.js";

const STALE_MS = 30_000;

export interface LockOptions {
  /** How long to wait for another holder, in milliseconds. */
  readonly timeout: number;
}

export async function withFileLock<T>(lockPath: string, options: LockOptions, work: () => T): Promise<T> {
  const deadline = Date.now() + options.timeout;
  for (let attempt = 0; ; attempt++) {
    if (tryAcquire(lockPath)) break;
    if (Date.now() > deadline) {
      throw new BulwarkError(
        "api_key_store_unavailable",
        `api key store (file) is locked by ${holderOf(lockPath)}; if no bulwark process is running, remove ${lockPath}`,
      );
    }
    // Jittered backoff: racing CLIs do not retry in lockstep.
    await sleep(Math.min(10 * 2 ** Math.min(attempt, 4), 100) * (0.5 + Math.random()));
  }
  try {
    return work();
  } finally {
    try {
      unlinkSync(lockPath);
    } catch {
      // already removed (by hand, or as stale by another process after a very long hold)
    }
  }
}

function tryAcquire(lockPath: string): boolean {
  try {
    const fd = openSync(lockPath, "wx", 0o600);
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new BulwarkError(
        "api_key_store_unavailable",
        `api key store (file) cannot create its lock ${lockPath} (${(error as NodeJS.ErrnoException).code ?? "error"}); check the directory's permissions`,
      );
    }
    removeIfStale(lockPath);
    return false;
  }
}

function removeIfStale(lockPath: string): void {
  try {
    const age = Date.now() - statSync(lockPath).mtimeMs;
    if (age < STALE_MS) return;
    const pid = Number.parseInt(readFileSync(lockPath, "utf8"), 10);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return;
    unlinkSync(lockPath);
  } catch {
    // gone in the meantime: the next attempt finds out
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function holderOf(lockPath: string): string {
  try {
    return `pid ${Number.parseInt(readFileSync(lockPath, "utf8"), 10)}`;
  } catch {
    return "another process";
  }
}
