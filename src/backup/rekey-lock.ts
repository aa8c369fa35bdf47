/**
 * One `bulwark backup rekey` or `bulwark backup prune` per repository at a time: the object
 * `rekey.lock` at the repository's top (not a backup directory, so listings ignore it) names its
 * holder's operation, pid, host and start. Prune takes it too because a prune during a rekey
 * could remove a re-encrypted copy between the rekey's check of it and its removal of the
 * original, leaving neither (docs/disaster-recovery.md). In a local repository it is created
 * with O_CREAT|O_EXCL, so exactly one process gets it; S3's API as used here has no
 * create-if-absent (see "Not done yet" in docs/disaster-recovery.md), so there it is a
 * check-then-put. A lock whose holder is a dead process on this host (a rekey or prune killed
 * with SIGKILL) is taken over at once; one held from another host is refused with the command to
 * remove it.
 */
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { BulwarkError } from "../errors.js";
import { isProcessAlive } from "../file-lock.js";
import { LocalObjectStore } from "./local-object-store.js";
import type { ObjectStore } from "./object-store.js";

export const REKEY_LOCK = "rekey.lock";

/** What holds the lock; a lock written before prune took it names no operation: a rekey. */
export type LockOperation = "rekey" | "prune";

interface Holder {
  readonly operation: LockOperation;
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

function parseHolder(content: Buffer | null): Holder | undefined {
  if (!content) return undefined;
  try {
    const value = JSON.parse(content.toString("utf8")) as Partial<Holder>;
    if (typeof value.pid === "number" && typeof value.host === "string")
      return {
        operation: value.operation === "prune" ? "prune" : "rekey",
        pid: value.pid,
        host: value.host,
        startedAt: String(value.startedAt ?? ""),
      };
  } catch {
    // unreadable: treated as held by an unknown process
  }
  return undefined;
}

function describeHolder(holder: Holder | undefined): string {
  return holder
    ? `pid ${holder.pid} on ${holder.host} since ${holder.startedAt}`
    : "an unknown process (the lock is unreadable)";
}

function busy(store: ObjectStore, holder: Holder | undefined, wanted: LockOperation): BulwarkError {
  const who = describeHolder(holder);
  const held = holder?.operation ?? "rekey";
  const what = held === wanted ? `another ${held}` : `a ${held}`;
  const advice =
    wanted === "prune" ? "prune removes nothing meanwhile: run it again after that" : "wait for it";
  return new BulwarkError(
    "backup_rekey_busy",
    `${what} of ${store.location} is running (${who}); ${advice}, or if it is gone, remove ${store.location}/${REKEY_LOCK}`,
  );
}

/** Whether a holder is certainly gone: a dead process on this host. */
function gone(holder: Holder | undefined): boolean {
  return holder !== undefined && holder.host === hostname() && !isProcessAlive(holder.pid);
}

async function acquireLocal(store: LocalObjectStore, content: string, wanted: LockOperation): Promise<void> {
  const path = join(store.location, REKEY_LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") {
        throw new BulwarkError(
          "backup_failed",
          `cannot create the rekey lock ${path} (${code ?? "error"}); check the repository's permissions`,
        );
      }
      const holder = parseHolder(await store.get(REKEY_LOCK));
      if (!gone(holder)) throw busy(store, holder, wanted);
      try {
        unlinkSync(path);
      } catch {
        // removed by another process taking it over: the next attempt finds out
      }
    }
  }
  throw busy(store, parseHolder(await store.get(REKEY_LOCK)), wanted);
}

/** Runs `work` holding the repository's rekey lock for `operation`. */
export async function withRepositoryLock<T>(
  store: ObjectStore,
  operation: LockOperation,
  work: () => Promise<T>,
): Promise<T> {
  const content = `${JSON.stringify({ operation, pid: process.pid, host: hostname(), startedAt: new Date().toISOString() })}\n`;
  if (store instanceof LocalObjectStore) {
    await acquireLocal(store, content, operation);
  } else {
    const existing = await store.get(REKEY_LOCK);
    if (existing !== null && !gone(parseHolder(existing)))
      throw busy(store, parseHolder(existing), operation);
    await store.put(REKEY_LOCK, content);
  }
  try {
    return await work();
  } finally {
    await store.delete([REKEY_LOCK]).catch(() => {});
  }
}

/** Runs `work` holding the repository's rekey lock (`bulwark backup rekey`). */
export function withRekeyLock<T>(store: ObjectStore, work: () => Promise<T>): Promise<T> {
  return withRepositoryLock(store, "rekey", work);
}

/**
 * The live holder of the lock, or undefined when the lock is free or its holder is a dead process
 * on this host. For a note to the user, not for exclusion (that is withRepositoryLock).
 */
export async function lockHolder(
  store: ObjectStore,
): Promise<{ readonly operation: LockOperation; readonly who: string } | undefined> {
  const content = await store.get(REKEY_LOCK);
  if (content === null) return undefined;
  const holder = parseHolder(content);
  if (gone(holder)) return undefined;
  return { operation: holder?.operation ?? "rekey", who: describeHolder(holder) };
}
