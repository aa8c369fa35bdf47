/**
 * Physical base backups for point-in-time recovery: `pg_basebackup -Ft -D - -X fetch` (one tar
 * of the whole cluster, with the WAL needed to make it consistent) streamed through encryption
 * into `<repo>/base/<id>/base.tar.bwenc`, manifest last, as logical backups. A restore checks and
 * decrypts it into a new data directory and writes the recovery settings: restore_command
 * fetches archived WAL through `bulwark wal fetch`, recovery_target_time stops replay at the
 * requested time, and the server promotes when it gets there (PostgreSQL docs, "Recovering Using
 * a Continuous Archive Backup").
 */
import { appendFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { VERSION } from "../version.js";
import { expectArchive } from "./archive-check.js";
import { createDecryptStream, createEncryptStream, DEFAULT_CHUNK_LOG2 } from "./artifact-crypto.js";
import type { BackupKey } from "./backup-key.js";
import { childEnv, connect, type DbTarget } from "./connection.js";
import { type BackupKeys, keyForId } from "./key-ring.js";
import { artifactsSchema, BACKUP_ID, encryptionSchema } from "./manifest.js";
import { manifestMac } from "./manifest-mac.js";
import { measuringStream } from "./measuring-stream.js";
import type { ObjectStore } from "./object-store.js";
import { pgProgram, programVersion, startProgram } from "./pg-tools.js";
import { BackupRepository } from "./repository.js";
import { verifyArtifacts } from "./restore-backup.js";

export const BASE_ARTIFACT = "base.tar.bwenc";

export const baseManifestSchema = z.object({
  kind: z.literal("bulwark-base-backup"),
  formatVersion: z.literal(1),
  id: z.string().regex(BACKUP_ID),
  source: z.string(),
  serverVersion: z.string(),
  systemIdentifier: z.string(),
  /**
   * The WAL segment current when the backup started: the backup's own start is at or after it,
   * so archived WAL before it is not needed to restore this backup (prune relies on this).
   */
  walStartSegment: z.string().regex(/^[0-9A-F]{24}$/),
  archiveMode: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  tool: z.object({ name: z.literal("bulwark"), version: z.string(), pgBasebackup: z.string() }),
  encryption: encryptionSchema,
  artifacts: artifactsSchema,
  size: z.number().int().nonnegative(),
  mac: z.string().regex(/^[0-9a-f]{64}$/),
});
export type BaseManifest = z.infer<typeof baseManifestSchema>;

/** Base backups live under `base/` in the repository, as logical backups at its top. */
export function baseRepository(store: ObjectStore): BackupRepository<BaseManifest> {
  return new BackupRepository(store.child("base"), baseManifestSchema);
}

export interface BaseBackupOptions {
  readonly target: DbTarget;
  /** The repository's store (base backups go under base/). */
  readonly store: ObjectStore;
  readonly key: BackupKey;
  readonly pgBin?: string | undefined;
  readonly signal?: AbortSignal;
}

export async function createBaseBackup(options: BaseBackupOptions): Promise<BaseManifest> {
  const { target, key } = options;
  const repo = baseRepository(options.store);
  const startedAt = new Date();
  const client = await connect(target);
  let info: {
    server_version: string;
    num: number;
    system_identifier: string;
    archive_mode: string;
    wal_before: string;
  };
  try {
    info = (
      await client.query(
        `select current_setting('server_version') as server_version,
                current_setting('server_version_num')::int as num,
                (select system_identifier::text from pg_control_system()) as system_identifier,
                current_setting('archive_mode') as archive_mode,
                pg_walfile_name(pg_current_wal_lsn()) as wal_before`,
      )
    ).rows[0];
  } finally {
    await client.end().catch(() => {});
  }
  const program = pgProgram("pg_basebackup", {
    pgBin: options.pgBin,
    serverMajor: Math.floor(info.num / 10000),
  });
  const programVersionText = programVersion(program);
  const id = await repo.create(startedAt);
  // Created before pg_basebackup starts: Node discards a child's unread output when it exits.
  let encrypt: Transform;
  try {
    encrypt = await createEncryptStream(key);
  } catch (error) {
    await repo.remove(id).catch(() => {});
    throw error;
  }
  // -X fetch puts the WAL needed for consistency into the tar, so the base backup restores on
  // its own too; --no-manifest because a backup manifest cannot go to stdout with the tar.
  const run = startProgram(
    program,
    ["-D", "-", "-Ft", "-X", "fetch", "--no-manifest", "-c", "fast", "--no-password"],
    childEnv(target),
    "ignore",
  );
  try {
    const measure = measuringStream();
    const [, exit] = await Promise.all([
      pipeline(
        run.child.stdout!,
        expectArchive("tar archive", "pg_basebackup"),
        encrypt,
        measure,
        repo.artifactWriter(id, BASE_ARTIFACT),
        {
          ...(options.signal ? { signal: options.signal } : {}),
        },
      ),
      run.exited,
    ]);
    if (exit.code !== 0) {
      throw new BulwarkError(
        "backup_failed",
        `pg_basebackup failed (${exit.signal ?? `exit ${exit.code}`})`,
        {
          details: exit.stderr ? exit.stderr.split("\n").slice(-5) : [],
        },
      );
    }
    const unsigned: Omit<BaseManifest, "mac"> = {
      kind: "bulwark-base-backup",
      formatVersion: 1,
      id,
      source: target.display,
      serverVersion: info.server_version,
      systemIdentifier: info.system_identifier,
      walStartSegment: info.wal_before,
      archiveMode: info.archive_mode,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      tool: { name: "bulwark", version: VERSION, pgBasebackup: programVersionText },
      encryption: {
        algorithm: "aes-256-gcm-stream-v1",
        keyId: key.id,
        keyKind: key.kind,
        chunkSize: 2 ** DEFAULT_CHUNK_LOG2,
      },
      artifacts: [{ name: BASE_ARTIFACT, size: measure.size(), sha256: measure.sha256() }],
      size: measure.size(),
    };
    const manifest: BaseManifest = { ...unsigned, mac: await manifestMac(unsigned, key) };
    await repo.complete(manifest);
    return manifest;
  } catch (error) {
    run.child.kill("SIGKILL");
    await repo.remove(id).catch(() => {});
    if (options.signal?.aborted)
      throw new BulwarkError("backup_interrupted", "base backup interrupted; the partial backup was removed");
    if (isBulwarkError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EDQUOT") {
      throw new BulwarkError(
        "backup_repo_full",
        `repository ${options.store.location} is full (${code}); the partial base backup was removed`,
      );
    }
    throw new BulwarkError("backup_failed", `base backup failed: ${(error as Error).message}`);
  }
}

/** POSIX shell single-quoting: PostgreSQL runs restore_command with /bin/sh. */
function shellQuote(argument: string): string {
  if (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(argument)) return argument;
  return `'${argument.replace(/'/g, `'\\''`)}'`;
}

/** "2026-11-26 09:30:00.123+00": PostgreSQL's recovery_target_time check refuses ISO's T and Z. */
function postgresTimestamp(time: Date): string {
  return time.toISOString().replace("T", " ").replace("Z", "+00");
}

/** A postgresql.conf string literal (quotes doubled). */
function confString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

export interface PointInTimeOptions {
  readonly store: ObjectStore;
  /**
   * One key, or several during a key rotation: the base backup is opened with the key its
   * manifest names, and restore_command passes every key file (in fetchFlags) to `wal fetch`.
   */
  readonly key: BackupKeys;
  /** A base backup id, or "latest" (with a target time: the newest finished before it). */
  readonly id: string;
  readonly dataDir: string;
  readonly targetTime?: Date | undefined;
  /** argv of `bulwark` for restore_command, before "wal fetch" (node, bin, and key/repo flags follow). */
  readonly bulwarkArgv: readonly string[];
  /** The flags restore_command passes to `bulwark wal fetch` to find the repository and key. */
  readonly fetchFlags: readonly string[];
}

export async function restorePointInTime(options: PointInTimeOptions): Promise<BaseManifest> {
  const repo = baseRepository(options.store);
  let manifest: BaseManifest;
  if (options.id === "latest" && options.targetTime) {
    const candidates = (await repo.list()).backups.filter(
      (backup) => new Date(backup.finishedAt) <= options.targetTime!,
    );
    const newest = candidates.at(-1);
    if (!newest) {
      throw new BulwarkError(
        "backup_not_found",
        `no base backup finished before ${options.targetTime.toISOString()} in ${repo.location}`,
      );
    }
    manifest = newest;
  } else {
    manifest = await repo.find(options.id);
  }
  if (manifest.archiveMode === "off" && options.targetTime) {
    throw new BulwarkError(
      "backup_not_found",
      `base backup ${manifest.id} was taken with archive_mode off: WAL after it is not archived, so it cannot recover to a point in time`,
    );
  }
  const key = keyForId(options.key, manifest.encryption.keyId, `backup ${manifest.id}`);
  await verifyArtifacts(repo, manifest, key);

  let existing: string[] = [];
  try {
    existing = readdirSync(options.dataDir);
  } catch {
    // does not exist yet: created below
  }
  if (existing.length > 0) {
    throw new BulwarkError(
      "restore_target_not_empty",
      `data directory ${options.dataDir} is not empty; restore into a new directory`,
    );
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const source = await repo.openArtifact(manifest.id, BASE_ARTIFACT);
  const tar = startProgram("tar", ["-x", "-f", "-", "-C", options.dataDir], process.env, "pipe");
  const [, exit] = await Promise.all([
    pipeline(source, createDecryptStream(key), tar.child.stdin!),
    tar.exited,
  ]);
  if (exit.code !== 0)
    throw new BulwarkError("restore_failed", `tar failed to extract the base backup: ${exit.stderr}`);

  const restoreCommand = [...options.bulwarkArgv, "wal", "fetch", "%f", "%p", ...options.fetchFlags]
    // PostgreSQL substitutes %f and %p, and reads %% as a literal % (postgresql.conf docs).
    .map((argument) =>
      argument === "%f" || argument === "%p" ? argument : shellQuote(argument.replace(/%/g, "%%")),
    )
    .join(" ");
  const settings = [
    "",
    `# written by bulwark restore ${new Date().toISOString()} from base backup ${manifest.id}`,
    `restore_command = ${confString(restoreCommand)}`,
    ...(options.targetTime
      ? [
          `recovery_target_time = ${confString(postgresTimestamp(options.targetTime))}`,
          "recovery_target_action = 'promote'",
        ]
      : []),
    "",
  ];
  appendFileSync(join(options.dataDir, "postgresql.auto.conf"), settings.join("\n"));
  writeFileSync(join(options.dataDir, "recovery.signal"), "");
  return manifest;
}
