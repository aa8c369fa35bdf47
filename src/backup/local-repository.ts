/**
 * The local-directory repository: one directory per backup, `<repo>/<id>/`, holding the
 * encrypted artifact and, once complete, manifest.json. A directory without a valid manifest is
 * an incomplete backup: never listed, restored or counted by retention.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { z } from "zod";
import { fsyncDirectory, writeFileDurable, writeJsonDurable } from "../durable-file.js";
import { BulwarkError } from "../errors.js";
import {
  BACKUP_ID,
  IN_PROGRESS_FILE,
  MANIFEST_FILE,
  type Manifest,
  manifestSchema,
  VERIFIED_FILE,
  type VerifiedRecord,
  verifiedSchema,
} from "./manifest.js";

export interface IncompleteBackup {
  readonly id: string;
  /** Whether the process that was writing it is still alive (same host only). */
  readonly live: boolean;
  readonly reason: string;
}

/** What every kind of manifest has (logical dumps, base backups). */
export interface RepositoryManifest {
  readonly id: string;
  readonly startedAt: string;
}

export interface RepositoryListing<M extends RepositoryManifest = Manifest> {
  /** Complete backups, oldest first. */
  readonly backups: readonly M[];
  readonly incomplete: readonly IncompleteBackup[];
}

function newBackupId(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

/** False for entries that are not directories or vanished meanwhile (a concurrent prune). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class LocalRepository<M extends RepositoryManifest = Manifest> {
  readonly root: string;
  private readonly schema: z.ZodType<M>;

  /** `schema` validates manifests when read (default: logical backups). */
  constructor(root: string, schema?: z.ZodType<M>) {
    this.root = resolve(root);
    this.schema = schema ?? (manifestSchema as unknown as z.ZodType<M>);
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  path(id: string, file: string): string {
    return join(this.root, id, file);
  }

  /** Creates `<repo>/<id>/` with an in-progress marker; returns the id. */
  create(now = new Date()): string {
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new BulwarkError(
        "backup_failed",
        `cannot create repository ${this.root} (${(error as NodeJS.ErrnoException).code}); check the path and its permissions`,
      );
    }
    const id = newBackupId(now);
    try {
      mkdirSync(this.dir(id), { mode: 0o700 });
      writeJsonDurable(this.path(id, IN_PROGRESS_FILE), {
        pid: process.pid,
        host: hostname(),
        startedAt: now.toISOString(),
      });
      fsyncDirectory(this.root);
    } catch (error) {
      rmSync(this.dir(id), { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOSPC" || code === "EDQUOT") {
        throw new BulwarkError(
          "backup_repo_full",
          `repository ${this.root} is full (${code}); nothing was written`,
          {
            details: ["free space, or remove old backups with `bulwark backup prune`"],
          },
        );
      }
      throw new BulwarkError(
        "backup_failed",
        `cannot write to repository ${this.root} (${code}); check its permissions`,
      );
    }
    return id;
  }

  /** Marks a backup complete: the manifest is the last write. */
  complete(manifest: M): void {
    writeJsonDurable(this.path(manifest.id, MANIFEST_FILE), manifest);
    rmSync(this.path(manifest.id, IN_PROGRESS_FILE), { force: true });
  }

  readManifest(id: string): M | { problem: string } {
    let text: string;
    try {
      text = readFileSync(this.path(id, MANIFEST_FILE), "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return {
        problem:
          code === "ENOENT" ? "no manifest (incomplete or interrupted)" : `manifest unreadable (${code})`,
      };
    }
    try {
      const parsed = this.schema.safeParse(JSON.parse(text));
      if (!parsed.success) return { problem: "manifest does not match format version 1" };
      if (parsed.data.id !== id) return { problem: `manifest names a different backup (${parsed.data.id})` };
      return parsed.data;
    } catch {
      return { problem: "manifest is not valid JSON" };
    }
  }

  list(): RepositoryListing<M> {
    let entries: string[];
    try {
      entries = readdirSync(this.root);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { backups: [], incomplete: [] };
      throw new BulwarkError("backup_failed", `cannot read repository ${this.root} (${code})`);
    }
    const backups: M[] = [];
    const incomplete: IncompleteBackup[] = [];
    for (const id of entries.sort()) {
      if (!BACKUP_ID.test(id) || !isDirectory(this.dir(id))) continue;
      const manifest = this.readManifest(id);
      if ("problem" in manifest)
        incomplete.push({ id, live: this.writerAlive(id), reason: manifest.problem });
      else backups.push(manifest);
    }
    backups.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
    return { backups, incomplete };
  }

  private writerAlive(id: string): boolean {
    try {
      const marker = JSON.parse(readFileSync(this.path(id, IN_PROGRESS_FILE), "utf8")) as {
        pid?: number;
        host?: string;
      };
      return marker.host === hostname() && typeof marker.pid === "number" && processAlive(marker.pid);
    } catch {
      return false;
    }
  }

  /** A complete backup by id, or the newest with "latest". */
  find(idOrLatest: string): M {
    if (idOrLatest === "latest") {
      const { backups } = this.list();
      const newest = backups.at(-1);
      if (!newest) throw new BulwarkError("backup_not_found", `no complete backup in ${this.root}`);
      return newest;
    }
    if (!BACKUP_ID.test(idOrLatest)) {
      throw new BulwarkError(
        "usage",
        `${JSON.stringify(idOrLatest)} is not a backup id (such as 20261126T104900Z-3f9a1c) or "latest"`,
      );
    }
    if (!existsSync(this.dir(idOrLatest))) {
      throw new BulwarkError(
        "backup_not_found",
        `no backup ${idOrLatest} in ${this.root}; \`bulwark backup list\` shows the backups`,
      );
    }
    const manifest = this.readManifest(idOrLatest);
    if ("problem" in manifest) {
      throw new BulwarkError("backup_not_found", `backup ${idOrLatest} is not usable: ${manifest.problem}`);
    }
    return manifest;
  }

  readVerified(id: string): VerifiedRecord | undefined {
    try {
      const parsed = verifiedSchema.safeParse(JSON.parse(readFileSync(this.path(id, VERIFIED_FILE), "utf8")));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  markVerified(record: VerifiedRecord): void {
    writeFileDurable(this.path(record.id, VERIFIED_FILE), `${JSON.stringify(record, null, 2)}\n`);
  }

  /**
   * Removes a backup crash-safely: the manifest goes first (with a directory fsync), so a crash
   * halfway leaves an incomplete directory, never a listed backup with missing files.
   */
  remove(id: string): void {
    const manifest = this.path(id, MANIFEST_FILE);
    if (existsSync(manifest)) {
      unlinkSync(manifest);
      fsyncDirectory(this.dir(id));
    }
    rmSync(this.dir(id), { recursive: true, force: true });
    fsyncDirectory(this.root);
  }
}
