/**
 * A lock file beside what it protects, so two processes (two `bulwark keys` invocations, a CLI and
 * a gateway writing last-used times, a timer's `bulwark audit prune` and a gateway's own retention
 * pass) never interleave a read-modify-write.
 *
 * `open(…, "wx")` is O_CREAT|O_EXCL: atomic on local filesystems, exactly one process creates
 * the file. The holder writes its pid; a lock older than STALE_MS whose pid is not alive is a
 * leftover from a killed process and is removed. Critical sections are far shorter than STALE_MS.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BulwarkError, type ErrorCode } from "./errors.js";

const STALE_MS = 30_000;

export interface LockOptions {
  /** How long to wait for another holder, in milliseconds (0: try once). */
  readonly timeout: number;
  /** What the lock protects, for messages ("api key store (file)"). */
  readonly subject: string;
  /** The error code when the lock cannot be had. */
  readonly code: ErrorCode;
}

export async function withFileLock<T>(
  lockPath: string,
  options: LockOptions,
  work: () => T | Promise<T>,
): Promise<T> {
  const deadline = Date.now() + options.timeout;
  for (let attempt = 0; ; attempt++) {
    if (tryAcquire(lockPath, options)) break;
    if (Date.now() > deadline) {
      throw new BulwarkError(
        options.code,
        `${options.subject} is locked by ${holderOf(lockPath)}; if no bulwark process is running, remove ${lockPath}`,
      );
    }
    // Jittered backoff: racing CLIs do not retry in lockstep.
    await sleep(Math.min(10 * 2 ** Math.min(attempt, 4), 100) * (0.5 + Math.random()));
  }
  try {
    return await work();
  } finally {
    try {
      unlinkSync(lockPath);
    } catch {
      // already removed (by hand, or as stale by another process after a very long hold)
    }
  }
}

function tryAcquire(lockPath: string, options: LockOptions): boolean {
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
        options.code,
        `${options.subject} cannot create its lock ${lockPath} (${(error as NodeJS.ErrnoException).code ?? "error"}); check the directory's permissions`,
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
    if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) return;
    unlinkSync(lockPath);
  } catch {
    // gone in the meantime: the next attempt finds out
  }
}

/** Whether a process with this pid exists on this host (EPERM: it does, as another user). */
export function isProcessAlive(pid: number): boolean {
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
