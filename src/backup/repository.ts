/**
 * A backup repository: one "directory" per backup, `<id>/`, holding the encrypted artifact and,
 * once complete, manifest.json — in a local directory or an S3 bucket (object-store.ts). A backup
 * without a valid manifest is incomplete: never listed, restored or counted by retention. The
 * manifest is the last write of a backup and the first removal of a prune, so a crash at any
 * point leaves either a complete backup or an incomplete one, never a listed backup with missing
 * files.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Readable, Writable } from "node:stream";
import type { z } from "zod";
import { BulwarkError } from "../errors.js";
import type { BackupSection } from "./config-schema.js";
import { LocalObjectStore } from "./local-object-store.js";
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
import { mapLimited } from "./map-limited.js";
import { type ObjectStore, objectKey } from "./object-store.js";
import { S3ObjectStore } from "./s3-object-store.js";
import { isS3Location, resolveS3Settings } from "./s3-settings.js";

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

/** The store for a location: a directory, or s3://bucket/prefix with the backup.s3 settings. */
export function openStore(
  location: string,
  section: Pick<BackupSection, "s3"> = {},
  env: NodeJS.ProcessEnv = process.env,
): ObjectStore {
  if (isS3Location(location)) return new S3ObjectStore(resolveS3Settings(location, section.s3, env));
  return new LocalObjectStore(location);
}

function newBackupId(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class BackupRepository<M extends RepositoryManifest = Manifest> {
  readonly store: ObjectStore;
  private readonly schema: z.ZodType<M>;

  /** `schema` validates manifests when read (default: logical backups). */
  constructor(store: ObjectStore, schema?: z.ZodType<M>) {
    this.store = store;
    this.schema = schema ?? (manifestSchema as unknown as z.ZodType<M>);
  }

  /** A directory path or s3://bucket/prefix. */
  get location(): string {
    return this.store.location;
  }

  /** Starts backup `<id>/` with an in-progress marker; returns the id. */
  async create(now = new Date()): Promise<string> {
    const id = newBackupId(now);
    try {
      await this.store.put(
        objectKey(id, IN_PROGRESS_FILE),
        `${JSON.stringify({ pid: process.pid, host: hostname(), startedAt: now.toISOString() }, null, 2)}\n`,
      );
    } catch (error) {
      await this.store.deletePrefix(id).catch(() => {});
      throw error;
    }
    return id;
  }

  /** The artifact's stream; the artifact is complete only when the stream finishes. */
  artifactWriter(id: string, name: string): Writable {
    return this.store.createWriteStream(objectKey(id, name));
  }

  /** The artifact's content; backup_corrupt when it is missing. */
  async openArtifact(id: string, name: string): Promise<Readable> {
    const stream = await this.store.open(objectKey(id, name));
    if (!stream) throw new BulwarkError("backup_corrupt", `backup ${id} is missing its artifact ${name}`);
    return stream;
  }

  /** Marks a backup complete: the manifest is the last write. */
  async complete(manifest: M): Promise<void> {
    await this.store.put(objectKey(manifest.id, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    await this.store.delete([objectKey(manifest.id, IN_PROGRESS_FILE)]);
  }

  async readManifest(id: string): Promise<M | { problem: string }> {
    let content: Buffer | null;
    try {
      content = await this.store.get(objectKey(id, MANIFEST_FILE));
    } catch (error) {
      if (error instanceof BulwarkError) throw error;
      return { problem: `manifest unreadable (${(error as NodeJS.ErrnoException).code ?? "error"})` };
    }
    if (content === null) return { problem: "no manifest (incomplete or interrupted)" };
    try {
      const parsed = this.schema.safeParse(JSON.parse(content.toString("utf8")));
      if (!parsed.success) return { problem: "manifest does not match a known format version" };
      if (parsed.data.id !== id) return { problem: `manifest names a different backup (${parsed.data.id})` };
      return parsed.data;
    } catch {
      return { problem: "manifest is not valid JSON" };
    }
  }

  async list(): Promise<RepositoryListing<M>> {
    const ids = (await this.store.listChildren()).filter((id) => BACKUP_ID.test(id));
    // At most 16 at a time: on S3, one request each.
    const read = await mapLimited(ids, 16, async (id) => ({ id, manifest: await this.readManifest(id) }));
    const backups: M[] = [];
    const incomplete: IncompleteBackup[] = [];
    for (const { id, manifest } of read) {
      if ("problem" in manifest)
        incomplete.push({ id, live: await this.writerAlive(id), reason: manifest.problem });
      else backups.push(manifest);
    }
    backups.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
    return { backups, incomplete };
  }

  private async writerAlive(id: string): Promise<boolean> {
    try {
      const content = await this.store.get(objectKey(id, IN_PROGRESS_FILE));
      if (!content) return false;
      const marker = JSON.parse(content.toString("utf8")) as { pid?: number; host?: string };
      return marker.host === hostname() && typeof marker.pid === "number" && processAlive(marker.pid);
    } catch {
      return false;
    }
  }

  /** A complete backup by id, or the newest with "latest". */
  async find(idOrLatest: string): Promise<M> {
    if (idOrLatest === "latest") {
      const { backups } = await this.list();
      const newest = backups.at(-1);
      if (!newest) throw new BulwarkError("backup_not_found", `no complete backup in ${this.location}`);
      return newest;
    }
    if (!BACKUP_ID.test(idOrLatest)) {
      throw new BulwarkError(
        "usage",
        `${JSON.stringify(idOrLatest)} is not a backup id (such as 20261126T104900Z-3f9a1c) or "latest"`,
      );
    }
    const manifest = await this.readManifest(idOrLatest);
    if (!("problem" in manifest)) return manifest;
    if ((await this.store.list(`${idOrLatest}/`)).length === 0) {
      throw new BulwarkError(
        "backup_not_found",
        `no backup ${idOrLatest} in ${this.location}; \`bulwark backup list\` shows the backups`,
      );
    }
    throw new BulwarkError("backup_not_found", `backup ${idOrLatest} is not usable: ${manifest.problem}`);
  }

  async readVerified(id: string): Promise<VerifiedRecord | undefined> {
    try {
      const content = await this.store.get(objectKey(id, VERIFIED_FILE));
      if (!content) return undefined;
      const parsed = verifiedSchema.safeParse(JSON.parse(content.toString("utf8")));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async markVerified(record: VerifiedRecord): Promise<void> {
    await this.store.put(objectKey(record.id, VERIFIED_FILE), `${JSON.stringify(record, null, 2)}\n`);
  }

  /**
   * Removes a backup crash-safely: the manifest goes first (durably), so a crash halfway leaves
   * an incomplete backup, never a listed backup with missing files.
   */
  async remove(id: string): Promise<void> {
    await this.store.delete([objectKey(id, MANIFEST_FILE)]);
    await this.store.deletePrefix(id);
  }
}
