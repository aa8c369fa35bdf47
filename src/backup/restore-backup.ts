/**
 * `bulwark restore`: the artifacts are checked before the target is touched — their sizes and
 * SHA-256 against the manifest (fetch), then every chunk decrypted and authenticated with the
 * output discarded (decrypt) — and only then decrypted a second time into pg_restore's stdin.
 * Plaintext never touches disk. A single-artifact backup is restored by one pg_restore with
 * --single-transaction, so a failure leaves the target as it was; a split backup by several at
 * once (restore-split.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { createDecryptStream } from "./artifact-crypto.js";
import type { BackupKey } from "./backup-key.js";
import { childEnv, connect, type DbTarget } from "./connection.js";
import { isSplit, type Manifest } from "./manifest.js";
import { verifyManifestMac } from "./manifest-mac.js";
import { mapLimited } from "./map-limited.js";
import { discardingSink, measuringStream } from "./measuring-stream.js";
import { pgProgram, startProgram } from "./pg-tools.js";
import type { BackupRepository } from "./repository.js";
import { restoreSplit } from "./restore-split.js";

export interface RestoreProgress {
  readonly phase: "fetch" | "decrypt" | "restore";
  readonly bytes: number;
  readonly total: number;
}

export interface PhaseTimings {
  fetchMs: number;
  decryptMs: number;
  restoreMs: number;
}

/** Progress of one phase, over one stream or several at once, reported at most every 250 ms. */
export interface Meter {
  add(bytes: number): void;
}

export function meter(
  phase: RestoreProgress["phase"],
  total: number,
  onProgress: ((progress: RestoreProgress) => void) | undefined,
): Meter | undefined {
  if (!onProgress) return undefined;
  let bytes = 0;
  let last = 0;
  return {
    add(count) {
      bytes += count;
      const now = Date.now();
      if (now - last >= 250) {
        last = now;
        onProgress({ phase, bytes, total });
      }
    },
  };
}

/** Counts the bytes passing into a progress meter; hashes them only when asked. */
function metered(progress: Meter | undefined, hash = false) {
  return measuringStream({ hash, ...(progress ? { onBytes: (count: number) => progress.add(count) } : {}) });
}

/** What the integrity checks need from a repository and a manifest (logical or base backup). */
export interface ArtifactSource {
  openArtifact(id: string, name: string): Promise<Readable>;
}
export type ArtifactManifest = Pick<Manifest, "id" | "artifacts" | "mac"> & {
  readonly encryption: { readonly keyId: string };
};

/**
 * Fetch and decrypt checks, in this order, before anything is restored: first every artifact's
 * size and SHA-256, then every artifact decrypted and authenticated (output discarded), each step
 * with up to `jobs` artifacts at once (split backups), so a phase's time is its wall time. Throws
 * backup_truncated, backup_corrupt or backup_wrong_key, naming the artifact.
 */
export async function verifyArtifacts(
  repo: ArtifactSource,
  manifest: ArtifactManifest,
  key: BackupKey,
  options: { onProgress?: (progress: RestoreProgress) => void; signal?: AbortSignal; jobs?: number } = {},
): Promise<Pick<PhaseTimings, "fetchMs" | "decryptMs">> {
  if (manifest.encryption.keyId !== key.id) {
    throw new BulwarkError(
      "backup_wrong_key",
      `wrong key: backup ${manifest.id} was encrypted with key ${manifest.encryption.keyId}, the key given is ${key.id}`,
    );
  }
  await verifyManifestMac(manifest, key);
  const jobs = options.jobs ?? 1;
  const total = manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
  const fetchStart = performance.now();
  const fetched = meter("fetch", total, options.onProgress);
  await mapLimited(manifest.artifacts, jobs, async (artifact) => {
    const counter = metered(fetched, true);
    await pipeline(await repo.openArtifact(manifest.id, artifact.name), counter, discardingSink(), {
      signal: options.signal,
    });
    if (counter.size() < artifact.size) {
      throw new BulwarkError(
        "backup_truncated",
        `backup ${manifest.id} is truncated: ${artifact.name} has ${counter.size()} bytes, the manifest says ${artifact.size}`,
      );
    }
    if (counter.size() !== artifact.size || counter.sha256() !== artifact.sha256) {
      throw new BulwarkError(
        "backup_corrupt",
        `backup ${manifest.id} is corrupt: the SHA-256 of ${artifact.name} does not match the manifest`,
        { details: ["the artifact was modified or damaged; restore another backup (`bulwark backup list`)"] },
      );
    }
  });
  const fetchMs = performance.now() - fetchStart;
  const decryptStart = performance.now();
  const decrypted = meter("decrypt", total, options.onProgress);
  await mapLimited(manifest.artifacts, jobs, async (artifact) => {
    await pipeline(
      await repo.openArtifact(manifest.id, artifact.name),
      createDecryptStream(key),
      metered(decrypted),
      discardingSink(),
      { signal: options.signal },
    ).catch((error: unknown) => {
      throw nameArtifact(error, manifest.artifacts.length > 1 ? artifact.name : undefined);
    });
  });
  return { fetchMs, decryptMs: performance.now() - decryptStart };
}

/** Puts the artifact's name into a decryption error of a backup with several artifacts. */
function nameArtifact(error: unknown, artifact: string | undefined): unknown {
  if (!artifact || !isBulwarkError(error)) return error;
  return new BulwarkError(
    error.code,
    error.message.replace(/^backup artifact/, `backup artifact ${artifact}`),
    {
      details: error.details,
    },
  );
}

/** Relations in the target that are not system or extension objects (up to 5 named). */
export async function userRelations(target: DbTarget): Promise<{ count: number; examples: string[] }> {
  const client = await connect(target);
  try {
    const result = await client.query<{ name: string; total: string }>(
      `select format('%I.%I', n.nspname, c.relname) as name, count(*) over () as total
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
         and n.nspname not in ('pg_catalog', 'information_schema')
         and n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
         and not exists (select 1 from pg_depend d
                         where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
       order by 1 limit 5`,
    );
    return { count: Number(result.rows[0]?.total ?? 0), examples: result.rows.map((row) => row.name) };
  } finally {
    await client.end().catch(() => {});
  }
}

/** libpq conninfo quoting (PostgreSQL docs, "Connection Strings": backslash-escape ' and \\). */
export function conninfoDbname(name: string): string {
  return `dbname='${name.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export interface RestoreOptions {
  readonly repo: BackupRepository;
  readonly manifest: Manifest;
  readonly key: BackupKey;
  readonly target: DbTarget;
  /** Drop and replace the objects the backup holds (pg_restore --clean --if-exists). */
  readonly clean?: boolean;
  /** Skip the not-empty check (a drill's fresh scratch database). */
  readonly freshTarget?: boolean;
  readonly noOwner?: boolean;
  /** pg_restore processes at once for a split backup (default 1); a single artifact ignores it. */
  readonly jobs?: number;
  readonly pgBin?: string | undefined;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RestoreProgress) => void;
}

export interface PgRestoreRun {
  readonly repo: BackupRepository;
  readonly manifest: Manifest;
  readonly key: BackupKey;
  readonly target: DbTarget;
  readonly program: string;
  readonly artifact: { readonly name: string; readonly size: number };
  readonly args: readonly string[];
  /** A pg_restore TOC list (--use-list), see writeList. */
  readonly list?: string;
  /** Keep pg_restore's stdout (--list) and return it. */
  readonly captureStdout?: boolean;
  readonly signal?: AbortSignal | undefined;
  readonly progress?: Meter | undefined;
}

export interface PgRestoreExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly stdout: string;
}

/**
 * One pg_restore fed an artifact, decrypted, on stdin. Throws when the stream fails (the artifact
 * failing authentication, the repository failing, an abort) or the program cannot start; returns
 * the exit status otherwise, for the caller to explain.
 */
export async function runPgRestore(run: PgRestoreRun): Promise<PgRestoreExit> {
  // Opened before pg_restore starts: a repository that fails now (S3 unreachable) fails the
  // restore before anything runs against the target.
  const source = await run.repo.openArtifact(run.manifest.id, run.artifact.name);
  const listDir = run.list === undefined ? undefined : writeList(run.list);
  try {
    const args = listDir === undefined ? run.args : [...run.args, `--use-list=${join(listDir, "toc.list")}`];
    const restore = startProgram(
      run.program,
      args,
      childEnv(run.target),
      "pipe",
      run.captureStdout ? { stdout: "pipe" } : {},
    );
    // Stopped on abort even after its input is fed (an index build, a foreign key check).
    const stop = () => restore.child.kill("SIGKILL");
    run.signal?.addEventListener("abort", stop, { once: true });
    restore.exited.finally(() => run.signal?.removeEventListener("abort", stop)).catch(() => {});
    let stdout = "";
    if (run.captureStdout) {
      restore.child.stdout!.setEncoding("utf8");
      restore.child.stdout!.on("data", (chunk: string) => {
        stdout += chunk;
      });
    }
    // Both sides are awaited, then the cause is reported: a failing stream (say, a chunk failing
    // authentication) also makes pg_restore exit on its truncated input, and that exit must not
    // hide the cause; pg_restore closing its stdin early (closedEarly) is reported from its exit
    // status.
    const [fed, exited] = await Promise.allSettled([
      pipeline(
        source,
        createDecryptStream(run.key),
        metered(run.progress),
        restore.child.stdin!,
        ...(run.signal ? [{ signal: run.signal }] : []),
      ).catch((error: unknown) => {
        if (!closedEarly(error)) restore.child.kill("SIGKILL");
        throw error;
      }),
      restore.exited,
    ]);
    const streamError = fed.status === "rejected" ? (fed.reason as NodeJS.ErrnoException) : undefined;
    if (run.signal?.aborted) throw run.signal.reason ?? new Error("aborted");
    if (streamError && !closedEarly(streamError)) {
      if (isBulwarkError(streamError)) throw streamError;
      throw new BulwarkError("restore_failed", `restore failed: ${streamError.message}`);
    }
    if (exited.status === "rejected") {
      throw new BulwarkError(
        "restore_failed",
        `cannot run ${run.program}: ${(exited.reason as Error).message}`,
      );
    }
    return { ...exited.value, stdout };
  } finally {
    if (listDir !== undefined) rmSync(listDir, { recursive: true, force: true });
  }
}

/**
 * pg_restore closed its stdin before the end of the artifact: it read all it needed (the steps of
 * a split restore that only need the table of contents), or it failed. Node reports the first as
 * EPIPE or, when the socket closes between writes, as a premature close; both are judged from
 * pg_restore's exit status, never by killing it.
 */
function closedEarly(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE";
}

/**
 * pg_restore reads --use-list with fopen(), so it must be a file: Node's child pipes are socket
 * pairs, which /dev/fd/N cannot open (ENXIO). The list holds object names and ids only (pg_restore
 * --list output, no data), in a private 0700 directory, in memory-backed /dev/shm when the system
 * has it; it is removed when pg_restore exits.
 */
function writeList(list: string): string {
  const root = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dir = mkdtempSync(join(root, "bulwark-toc-"));
  writeFileSync(join(dir, "toc.list"), list, { mode: 0o600 });
  return dir;
}

/** Refuses a target holding relations (restore_target_not_empty), unless --clean or a drill's fresh one. */
async function ensureEmpty(options: RestoreOptions): Promise<void> {
  if (options.freshTarget || options.clean) return;
  const existing = await userRelations(options.target);
  if (existing.count > 0) {
    throw new BulwarkError(
      "restore_target_not_empty",
      `target database ${options.target.display} is not empty (${existing.count} relation${existing.count === 1 ? "" : "s"}, such as ${existing.examples.join(", ")})`,
      {
        details: [
          "restore into an empty database, or pass --clean to drop and replace the objects the backup holds",
        ],
      },
    );
  }
}

export async function restoreBackup(options: RestoreOptions): Promise<PhaseTimings> {
  const { repo, manifest, key, target } = options;
  const jobs = isSplit(manifest) ? (options.jobs ?? 1) : 1;
  const checks = await verifyArtifacts(repo, manifest, key, { ...options, jobs });
  await ensureEmpty(options);

  const serverMajor = Number(manifest.serverVersion.split(".")[0]);
  const program = pgProgram("pg_restore", { pgBin: options.pgBin, serverMajor });
  const restoreStart = performance.now();
  if (isSplit(manifest)) {
    await restoreSplit({ ...options, manifest, program, jobs });
    return { ...checks, restoreMs: performance.now() - restoreStart };
  }
  const artifact = manifest.artifacts[0]!;
  let exit: PgRestoreExit;
  try {
    exit = await runPgRestore({
      repo,
      manifest,
      key,
      target,
      program,
      artifact,
      args: [
        "--no-password",
        "--exit-on-error",
        "--single-transaction",
        `--dbname=${conninfoDbname(target.database)}`,
        ...(options.clean ? ["--clean", "--if-exists"] : []),
        ...(options.noOwner ? ["--no-owner", "--no-privileges"] : []),
      ],
      signal: options.signal,
      progress: meter("restore", artifact.size, options.onProgress),
    });
  } catch (error) {
    if (options.signal?.aborted) {
      throw new BulwarkError(
        "backup_interrupted",
        "restore interrupted; the target was left unchanged (single transaction)",
      );
    }
    throw error;
  }
  if (exit.code !== 0) {
    throw new BulwarkError(
      "restore_failed",
      `pg_restore failed (${exit.signal ?? `exit ${exit.code}`}); the target was left unchanged (single transaction)`,
      { details: exit.stderr ? exit.stderr.split("\n").slice(-6) : [] },
    );
  }
  return { ...checks, restoreMs: performance.now() - restoreStart };
}
