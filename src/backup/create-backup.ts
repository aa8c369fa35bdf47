/**
 * `bulwark backup`: pg_dump (custom format, its own zlib compression) streamed through
 * encryption and SHA-256 into `<repo>/<id>/dump.bwenc` (a file, or an S3 multipart upload); then
 * the manifest, written last.
 *
 * Consistency: one REPEATABLE READ transaction exports its snapshot (pg_export_snapshot());
 * pg_dump imports it with --snapshot, and the per-table counts and checksums are computed in
 * that same transaction, so writes during the backup can make neither disagree with the dump
 * (PostgreSQL docs, "Snapshot Synchronization Functions").
 */
import { createHash } from "node:crypto";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { VERSION } from "../version.js";
import { expectArchive } from "./archive-check.js";
import { createEncryptStream, DEFAULT_CHUNK_LOG2 } from "./artifact-crypto.js";
import type { BackupKey } from "./backup-key.js";
import { childEnv, connect, type DbTarget } from "./connection.js";
import { ARTIFACT_FILE, type Manifest } from "./manifest.js";
import { manifestMac } from "./manifest-mac.js";
import { pgProgram, programVersion, startProgram } from "./pg-tools.js";
import type { BackupRepository } from "./repository.js";
import { allTableStats, CHECKSUM_ALGORITHM, type TableStats } from "./table-stats.js";

/**
 * zlib level 1, not pg_dump's default 6: measured on the 1 GB benchmark database (docs/
 * performance.md, "Backup"), level 1 costs pg_dump about 40% less CPU for a dump 2% larger, and
 * that CPU is what the snapshot's per-table checksums, running at the same time, need to keep
 * the whole backup within 1.25× of a plain pg_dump. On less repetitive data level 1 is typically
 * 10-20% larger than 6; --compress 6 (or 9) trades time for size.
 */
export const DEFAULT_COMPRESSION = 1;

export interface BackupProgress {
  readonly phase: "dump" | "checksums";
  readonly bytes: number;
  readonly elapsedMs: number;
}

export interface BackupOptions {
  readonly target: DbTarget;
  readonly repo: BackupRepository;
  readonly key: BackupKey;
  /** pg_dump -Z level, 0..9 (default DEFAULT_COMPRESSION). */
  readonly compression?: number;
  readonly pgBin?: string | undefined;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: BackupProgress) => void;
  /** Called once the backup directory exists (tests, progress lines). */
  readonly onStarted?: (id: string) => void;
}

interface SnapshotInfo {
  snapshot: string;
  taken_at: Date;
  server_version: string;
  server_version_num: number;
  database: string;
}

export async function createBackup(options: BackupOptions): Promise<Manifest> {
  const { target, repo, key } = options;
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const startedAt = new Date();
  const client = await connect(target);
  try {
    await client.query("begin isolation level repeatable read read only");
    const info = (
      await client.query<SnapshotInfo>(
        `select pg_export_snapshot() as snapshot, clock_timestamp() as taken_at,
                current_setting('server_version') as server_version,
                current_setting('server_version_num')::int as server_version_num,
                current_database() as database`,
      )
    ).rows[0]!;
    const pgDump = pgProgram("pg_dump", {
      pgBin: options.pgBin,
      serverMajor: Math.floor(info.server_version_num / 10000),
    });
    const pgDumpVersion = programVersion(pgDump);

    const id = await repo.create(startedAt);
    options.onStarted?.(id);
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    // The cipher exists before pg_dump starts: Node discards a child's unread output when the
    // child exits (child_process flushStdio), so nothing may be awaited between spawn and pipe.
    const encrypt = await createEncryptStream(key);
    const dump = startProgram(
      pgDump,
      ["--format=custom", `--compress=${compression}`, `--snapshot=${info.snapshot}`, "--no-password"],
      childEnv(target),
      "ignore",
    );
    try {
      const hash = createHash("sha256");
      let size = 0;
      let lastProgress = 0;
      const measure = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          size += chunk.length;
          const now = Date.now();
          if (options.onProgress && now - lastProgress >= 250) {
            lastProgress = now;
            options.onProgress({ phase: "dump", bytes: size, elapsedMs: now - startedAt.getTime() });
          }
          callback(null, chunk);
        },
      });
      const artifact = repo.artifactWriter(id, ARTIFACT_FILE);
      const written = pipeline(
        dump.child.stdout!,
        expectArchive("pg_dump custom archive", "pg_dump"),
        untilExitedOk(dump.exited),
        encrypt,
        measure,
        artifact,
        {
          signal: abort.signal,
        },
      );
      const stats = allTableStats(client);
      // Whichever fails first stops the others (a full disk, pg_dump failing, the server dying).
      const failFast = <T>(promise: Promise<T>) =>
        promise.catch((error: unknown) => {
          abort.abort();
          dump.child.kill("SIGTERM");
          throw error;
        });
      const [, tables, exit] = await Promise.all([failFast(written), failFast(stats), failFast(dump.exited)]);
      if (exit.code !== 0) throw pgDumpFailed(exit);
      await client.query("commit");
      const finishedAt = new Date();
      const unsigned: Omit<Manifest, "mac"> = {
        kind: "bulwark-backup",
        formatVersion: 1,
        id,
        database: info.database,
        source: target.display,
        serverVersion: info.server_version,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        snapshot: { id: info.snapshot, takenAt: new Date(info.taken_at).toISOString() },
        tool: { name: "bulwark", version: VERSION, pgDump: pgDumpVersion },
        dump: { format: "custom", compression },
        encryption: {
          algorithm: "aes-256-gcm-stream-v1",
          keyId: key.id,
          keyKind: key.kind,
          chunkSize: 2 ** DEFAULT_CHUNK_LOG2,
        },
        artifacts: [{ name: ARTIFACT_FILE, size, sha256: hash.digest("hex") }],
        size,
        checksumAlgorithm: CHECKSUM_ALGORITHM,
        tables: tables as TableStats[],
      };
      const manifest: Manifest = { ...unsigned, mac: await manifestMac(unsigned, key) };
      await repo.complete(manifest);
      return manifest;
    } catch (error) {
      dump.child.kill("SIGKILL");
      await dump.exited.catch(() => {});
      // Best effort: when the repository itself failed (unreachable), the backup stays
      // incomplete (no manifest) and the next prune removes it.
      await repo.remove(id).catch(() => {});
      throw explain(error, repo.location, options.signal);
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
  } finally {
    await client.end().catch(() => {});
  }
}

function pgDumpFailed(exit: { code: number | null; signal: NodeJS.Signals | null; stderr: string }) {
  return new BulwarkError("backup_failed", `pg_dump failed (${exit.signal ?? `exit ${exit.code}`})`, {
    details: exit.stderr ? exit.stderr.split("\n").slice(-5) : [],
  });
}

/**
 * Holds the end of pg_dump's stream until pg_dump has exited, and fails it unless pg_dump exited
 * 0: the last chunk is sealed, and the artifact completed (an S3 upload becomes an object), only
 * for a dump pg_dump itself reported whole.
 */
function untilExitedOk(
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>,
): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, chunk);
    },
    flush(callback) {
      exited.then(
        (exit) => callback(exit.code === 0 ? null : pgDumpFailed(exit)),
        (error: Error) => callback(error),
      );
    },
  });
}

function explain(error: unknown, root: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) {
    return new BulwarkError("backup_interrupted", "backup interrupted; the partial backup was removed");
  }
  if (isBulwarkError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new BulwarkError(
      "backup_repo_full",
      `repository ${root} is full (${code}); the partial backup was removed`,
      {
        details: ["free space, or remove old backups with `bulwark backup prune`"],
      },
    );
  }
  const message = (error as Error).message ?? String(error);
  if (/terminat|connection|ECONNRESET|Connection terminated/i.test(message)) {
    return new BulwarkError(
      "backup_db_unreachable",
      `lost the database connection during the backup: ${message}`,
    );
  }
  return new BulwarkError("backup_failed", `backup failed: ${code ? `${code} ` : ""}${message}`);
}
