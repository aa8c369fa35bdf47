/**
 * `bulwark backup`: pg_dump (custom format, its own zlib compression) streamed through
 * encryption and SHA-256 into `<repo>/<id>/dump.bwenc` (a file, or an S3 multipart upload); then
 * the manifest, written last. With `jobs` > 1, a split backup: up to `jobs` pg_dumps at once in
 * the same snapshot, each into its own artifact (split-plan.ts): `schema.bwenc` with everything
 * but the big tables' data, and `data-NNNN.bwenc` with the data of groups of big tables.
 *
 * Consistency: one REPEATABLE READ transaction exports its snapshot (pg_export_snapshot());
 * pg_dump imports it with --snapshot, and the per-table counts and checksums are computed in
 * that same transaction, so writes during the backup can make neither disagree with the dump
 * (PostgreSQL docs, "Snapshot Synchronization Functions").
 */
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { VERSION } from "../version.js";
import { expectArchive } from "./archive-check.js";
import { createEncryptStream, DEFAULT_CHUNK_LOG2 } from "./artifact-crypto.js";
import type { BackupKey } from "./backup-key.js";
import { childEnv, connect, type DbTarget } from "./connection.js";
import { ARTIFACT_FILE, dataArtifactFile, type Manifest, SCHEMA_ARTIFACT_FILE } from "./manifest.js";
import { manifestMac } from "./manifest-mac.js";
import { measuringStream } from "./measuring-stream.js";
import { pgProgram, programVersion, type RunningProgram, startProgram } from "./pg-tools.js";
import type { BackupRepository } from "./repository.js";
import { exactTablePattern, MIN_SPLIT_TABLE_BYTES, planSplit, type SplitPlan } from "./split-plan.js";
import { allTableStats, CHECKSUM_ALGORITHM, type TableStats, tableSizes } from "./table-stats.js";

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
  /** Bytes written so far, all artifacts together. */
  readonly bytes: number;
  readonly elapsedMs: number;
}

export interface BackupOptions {
  readonly target: DbTarget;
  readonly repo: BackupRepository;
  readonly key: BackupKey;
  /** pg_dump -Z level, 0..9 (default DEFAULT_COMPRESSION). */
  readonly compression?: number;
  /** pg_dumps at once; 1 (default) is the single-artifact format, more a split backup. */
  readonly jobs?: number;
  readonly pgBin?: string | undefined;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: BackupProgress) => void;
  /** Called once the backup directory exists (tests, progress lines). */
  readonly onStarted?: (id: string) => void;
}

/** --jobs range: pg_dump connections; the manifest schema accepts the same. */
export const MAX_JOBS = 64;

interface SnapshotInfo {
  snapshot: string;
  taken_at: Date;
  server_version: string;
  server_version_num: number;
  database: string;
}

/** One pg_dump into one artifact. */
interface DumpSpec {
  readonly artifact: string;
  readonly args: readonly string[];
}

interface DumpStream {
  readonly artifact: string;
  readonly dump: RunningProgram;
  /** Resolves with the artifact's size and SHA-256 once it is completely written. */
  readonly written: Promise<{ name: string; size: number; sha256: string }>;
}

function dumpSpecs(plan: SplitPlan | undefined): DumpSpec[] {
  if (!plan) return [{ artifact: ARTIFACT_FILE, args: [] }];
  const big = plan.parts.flatMap((part) => part.tables);
  return [
    {
      artifact: SCHEMA_ARTIFACT_FILE,
      args: big.map((table) => `--exclude-table-data=${exactTablePattern(table)}`),
    },
    ...plan.parts.map((part, index) => ({
      artifact: dataArtifactFile(index + 1),
      // --strict-names: a pattern matching no table fails the dump instead of dumping nothing.
      args: [
        "--data-only",
        "--strict-names",
        ...part.tables.map((table) => `--table=${exactTablePattern(table)}`),
      ],
    })),
  ];
}

export async function createBackup(options: BackupOptions): Promise<Manifest> {
  const { target, repo, key } = options;
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) {
    throw new BulwarkError("usage", `jobs must be an integer from 1 to ${MAX_JOBS}, got ${jobs}`);
  }
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
    const streams: DumpStream[] = [];
    let totalBytes = 0;
    let lastProgress = 0;
    const progress = () => {
      const now = Date.now();
      if (options.onProgress && now - lastProgress >= 250) {
        lastProgress = now;
        options.onProgress({ phase: "dump", bytes: totalBytes, elapsedMs: now - startedAt.getTime() });
      }
    };
    try {
      // Sizes are read in the snapshot's transaction, before the checksums start on this
      // connection. pg_table_size waits for a table's ACCESS SHARE lock, as pg_dump does.
      const plan = jobs > 1 ? planSplit(await tableSizes(client), jobs) : undefined;
      const specs = dumpSpecs(plan);
      // The ciphers exist before any pg_dump starts: Node discards a child's unread output when
      // the child exits (child_process flushStdio), so nothing may be awaited between spawn and pipe.
      const ciphers = await Promise.all(specs.map(() => createEncryptStream(key)));
      specs.forEach((spec, index) => {
        const dump = startProgram(
          pgDump,
          [
            "--format=custom",
            `--compress=${compression}`,
            `--snapshot=${info.snapshot}`,
            "--no-password",
            ...spec.args,
          ],
          childEnv(target),
          "ignore",
        );
        const measure = measuringStream({
          onBytes: (count) => {
            totalBytes += count;
            progress();
          },
        });
        const written = pipeline(
          dump.child.stdout!,
          expectArchive("pg_dump custom archive", describeDump(spec, specs.length)),
          untilExitedOk(dump.exited, spec, specs.length),
          ciphers[index]!,
          measure,
          repo.artifactWriter(id, spec.artifact),
          { signal: abort.signal },
        ).then(() => ({ name: spec.artifact, size: measure.size(), sha256: measure.sha256() }));
        streams.push({ artifact: spec.artifact, dump, written });
      });
      const stats = allTableStats(client);
      // Whichever fails first stops the others (a full disk, a pg_dump failing, the server dying).
      const failFast = <T>(promise: Promise<T>) =>
        promise.catch((error: unknown) => {
          abort.abort();
          for (const stream of streams) stream.dump.child.kill("SIGTERM");
          throw error;
        });
      const [artifacts, tables, exits] = await Promise.all([
        Promise.all(streams.map((stream) => failFast(stream.written))),
        failFast(stats),
        Promise.all(streams.map((stream) => failFast(stream.dump.exited))),
      ]);
      exits.forEach((exit, index) => {
        if (exit.code !== 0) throw pgDumpFailed(exit, specs[index]!, specs.length);
      });
      await client.query("commit");
      const finishedAt = new Date();
      const size = artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
      const common = {
        kind: "bulwark-backup" as const,
        id,
        database: info.database,
        source: target.display,
        serverVersion: info.server_version,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        snapshot: { id: info.snapshot, takenAt: new Date(info.taken_at).toISOString() },
        tool: { name: "bulwark" as const, version: VERSION, pgDump: pgDumpVersion },
        encryption: {
          algorithm: "aes-256-gcm-stream-v1" as const,
          keyId: key.id,
          keyKind: key.kind,
          chunkSize: 2 ** DEFAULT_CHUNK_LOG2,
        },
        artifacts,
        size,
        checksumAlgorithm: CHECKSUM_ALGORITHM,
        tables: tables as TableStats[],
      };
      const unsigned: Omit<Manifest, "mac"> = plan
        ? {
            ...common,
            formatVersion: 2,
            dump: {
              format: "split",
              compression,
              jobs,
              minTableBytes: MIN_SPLIT_TABLE_BYTES,
              schemaArtifact: SCHEMA_ARTIFACT_FILE,
              parts: plan.parts.map((part, index) => ({
                artifact: dataArtifactFile(index + 1),
                tableBytes: part.tableBytes,
                tables: part.tables.map(({ schema, name }) => ({ schema, name })),
              })),
            },
          }
        : { ...common, formatVersion: 1, dump: { format: "custom", compression } };
      const manifest = { ...unsigned, mac: await manifestMac(unsigned, key) } as Manifest;
      await repo.complete(manifest);
      return manifest;
    } catch (error) {
      for (const stream of streams) stream.dump.child.kill("SIGKILL");
      await Promise.all(streams.map((stream) => stream.dump.exited.catch(() => {})));
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

/** "pg_dump", or "pg_dump of data-0002.bwenc" when several run. */
function describeDump(spec: DumpSpec, count: number): string {
  return count > 1 ? `pg_dump of ${spec.artifact}` : "pg_dump";
}

function pgDumpFailed(
  exit: { code: number | null; signal: NodeJS.Signals | null; stderr: string },
  spec: DumpSpec,
  count: number,
) {
  return new BulwarkError(
    "backup_failed",
    `${describeDump(spec, count)} failed (${exit.signal ?? `exit ${exit.code}`})`,
    { details: exit.stderr ? exit.stderr.split("\n").slice(-5) : [] },
  );
}

/**
 * Holds the end of pg_dump's stream until pg_dump has exited, and fails it unless pg_dump exited
 * 0: the last chunk is sealed, and the artifact completed (an S3 upload becomes an object), only
 * for a dump pg_dump itself reported whole.
 */
function untilExitedOk(
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>,
  spec: DumpSpec,
  count: number,
): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, chunk);
    },
    flush(callback) {
      exited.then(
        (exit) => callback(exit.code === 0 ? null : pgDumpFailed(exit, spec, count)),
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
