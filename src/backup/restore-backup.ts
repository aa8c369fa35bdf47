/**
 * `bulwark restore`: the artifact is checked before the target is touched — its size and
 * SHA-256 against the manifest (fetch), then every chunk decrypted and authenticated with the
 * output discarded (decrypt) — and only then decrypted a second time into pg_restore's stdin.
 * Plaintext never touches disk. pg_restore runs with --single-transaction, so a failure leaves
 * the target as it was.
 */
import { createHash } from "node:crypto";
import { type Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { createDecryptStream } from "./artifact-crypto.js";
import type { BackupKey } from "./backup-key.js";
import { childEnv, connect, type DbTarget } from "./connection.js";
import type { Manifest } from "./manifest.js";
import { verifyManifestMac } from "./manifest-mac.js";
import { pgProgram, startProgram } from "./pg-tools.js";
import type { BackupRepository } from "./repository.js";

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

function progressCounter(
  phase: RestoreProgress["phase"],
  total: number,
  onProgress: ((progress: RestoreProgress) => void) | undefined,
  hash?: ReturnType<typeof createHash>,
): Transform & { bytes(): number } {
  let bytes = 0;
  let last = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash?.update(chunk);
      bytes += chunk.length;
      const now = Date.now();
      if (onProgress && now - last >= 250) {
        last = now;
        onProgress({ phase, bytes, total });
      }
      callback(null, chunk);
    },
  });
  return Object.assign(counter, { bytes: () => bytes });
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** What the integrity checks need from a repository and a manifest (logical or base backup). */
export interface ArtifactSource {
  openArtifact(id: string, name: string): Promise<Readable>;
}
export type ArtifactManifest = Pick<Manifest, "id" | "artifacts" | "mac"> & {
  readonly encryption: { readonly keyId: string };
};

/**
 * Fetch and decrypt checks, in this order, before anything is restored. Throws backup_truncated,
 * backup_corrupt or backup_wrong_key.
 */
export async function verifyArtifacts(
  repo: ArtifactSource,
  manifest: ArtifactManifest,
  key: BackupKey,
  options: { onProgress?: (progress: RestoreProgress) => void; signal?: AbortSignal } = {},
): Promise<Pick<PhaseTimings, "fetchMs" | "decryptMs">> {
  if (manifest.encryption.keyId !== key.id) {
    throw new BulwarkError(
      "backup_wrong_key",
      `wrong key: backup ${manifest.id} was encrypted with key ${manifest.encryption.keyId}, the key given is ${key.id}`,
    );
  }
  await verifyManifestMac(manifest, key);
  let fetchMs = 0;
  let decryptMs = 0;
  for (const artifact of manifest.artifacts) {
    const fetchStart = performance.now();
    const hash = createHash("sha256");
    const counter = progressCounter("fetch", artifact.size, options.onProgress, hash);
    await pipeline(await repo.openArtifact(manifest.id, artifact.name), counter, discard(), {
      signal: options.signal,
    });
    if (counter.bytes() < artifact.size) {
      throw new BulwarkError(
        "backup_truncated",
        `backup ${manifest.id} is truncated: ${artifact.name} has ${counter.bytes()} bytes, the manifest says ${artifact.size}`,
      );
    }
    const digest = hash.digest("hex");
    if (counter.bytes() !== artifact.size || digest !== artifact.sha256) {
      throw new BulwarkError(
        "backup_corrupt",
        `backup ${manifest.id} is corrupt: the SHA-256 of ${artifact.name} does not match the manifest`,
        { details: ["the artifact was modified or damaged; restore another backup (`bulwark backup list`)"] },
      );
    }
    fetchMs += performance.now() - fetchStart;
    const decryptStart = performance.now();
    await pipeline(
      await repo.openArtifact(manifest.id, artifact.name),
      createDecryptStream(key),
      progressCounter("decrypt", artifact.size, options.onProgress),
      discard(),
      { signal: options.signal },
    );
    decryptMs += performance.now() - decryptStart;
  }
  return { fetchMs, decryptMs };
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

/** libpq conninfo quoting (PostgreSQL docs, "Connection Strings": backslash-escape ' and \). */
function conninfoDbname(name: string): string {
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
  readonly pgBin?: string | undefined;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RestoreProgress) => void;
}

export async function restoreBackup(options: RestoreOptions): Promise<PhaseTimings> {
  const { repo, manifest, key, target } = options;
  const checks = await verifyArtifacts(repo, manifest, key, options);

  if (!options.freshTarget && !options.clean) {
    const existing = await userRelations(target);
    if (existing.count > 0) {
      throw new BulwarkError(
        "restore_target_not_empty",
        `target database ${target.display} is not empty (${existing.count} relation${existing.count === 1 ? "" : "s"}, such as ${existing.examples.join(", ")})`,
        {
          details: [
            "restore into an empty database, or pass --clean to drop and replace the objects the backup holds",
          ],
        },
      );
    }
  }

  const serverMajor = Number(manifest.serverVersion.split(".")[0]);
  const program = pgProgram("pg_restore", { pgBin: options.pgBin, serverMajor });
  const args = [
    "--no-password",
    "--exit-on-error",
    "--single-transaction",
    `--dbname=${conninfoDbname(target.database)}`,
    ...(options.clean ? ["--clean", "--if-exists"] : []),
    ...(options.noOwner ? ["--no-owner", "--no-privileges"] : []),
  ];
  const restoreStart = performance.now();
  const artifact = manifest.artifacts[0]!;
  // Opened before pg_restore starts: a repository that fails now (S3 unreachable) fails the
  // restore before anything runs against the target.
  const source = await repo.openArtifact(manifest.id, artifact.name);
  const restore = startProgram(program, args, childEnv(target), "pipe");
  // Both sides are awaited, then the cause is reported: a failing stream (say, a chunk failing
  // authentication) also makes pg_restore exit on its truncated input, and that exit must not
  // hide the cause; pg_restore closing its stdin early (EPIPE) is reported from its exit status.
  const [fed, exited] = await Promise.allSettled([
    pipeline(
      source,
      createDecryptStream(key),
      progressCounter("restore", artifact.size, options.onProgress),
      restore.child.stdin!,
      { signal: options.signal },
    ).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== "EPIPE") restore.child.kill("SIGKILL");
      throw error;
    }),
    restore.exited,
  ]);
  if (options.signal?.aborted) {
    throw new BulwarkError(
      "backup_interrupted",
      "restore interrupted; the target was left unchanged (single transaction)",
    );
  }
  const streamError = fed.status === "rejected" ? (fed.reason as NodeJS.ErrnoException) : undefined;
  if (streamError && streamError.code !== "EPIPE") {
    if (isBulwarkError(streamError)) throw streamError;
    throw new BulwarkError("restore_failed", `restore failed: ${streamError.message}`);
  }
  if (exited.status === "rejected") {
    throw new BulwarkError("restore_failed", `cannot run ${program}: ${(exited.reason as Error).message}`);
  }
  if (exited.value.code !== 0) {
    throw new BulwarkError(
      "restore_failed",
      `pg_restore failed (${exited.value.signal ?? `exit ${exited.value.code}`}); the target was left unchanged (single transaction)`,
      { details: exited.value.stderr ? exited.value.stderr.split("\n").slice(-6) : [] },
    );
  }
  return { ...checks, restoreMs: performance.now() - restoreStart };
}
