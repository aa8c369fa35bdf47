/**
 * Restoring a split backup (`bulwark backup --jobs N`) with up to `jobs` pg_restore processes at
 * once, each fed one artifact, decrypted, on stdin — plaintext never touches disk, and pg_restore
 * gets the order a parallel restore needs from Bulwark instead of from seeking in a file:
 *
 * 1. pre-data (tables, types, functions, views) from the schema artifact, one transaction;
 * 2. data: the schema artifact's own data (small tables, sequences, large objects) and every
 *    data artifact, up to `jobs` at once, each in one transaction;
 * 3. post-data in two waves (restore-list.ts): indexes and keys in parallel, then foreign keys,
 *    triggers and the rest in one process.
 *
 * Re-reading the schema artifact per step is cheap: pg_restore stops reading once it has run the
 * entries it was given, and the entries of steps 1 and 3 carry no data, so it reads the header
 * and table of contents only. Unlike a single-artifact restore, the whole is not one transaction
 * (several processes cannot share one): a failure after step 1 leaves a partial restore, and the
 * error says so.
 */
import { BulwarkError, isBulwarkError } from "../errors.js";
import { connect } from "./connection.js";
import type { SplitManifest } from "./manifest.js";
import { mapLimited } from "./map-limited.js";
import {
  conninfoDbname,
  meter,
  type PgRestoreExit,
  type RestoreOptions,
  runPgRestore,
} from "./restore-backup.js";
import { postDataWaves } from "./restore-list.js";

export const PARTIAL_RESTORE =
  "a split backup is restored by several pg_restore processes, not in one transaction: the target now holds a partial restore; drop and recreate it, or restore again with --clean";

/** Wave-1 lists per job: more lists than processes let a long index build not hold up the rest. */
const LISTS_PER_JOB = 4;

export async function restoreSplit(
  options: RestoreOptions & {
    readonly manifest: SplitManifest;
    readonly program: string;
    readonly jobs: number;
  },
): Promise<void> {
  const { manifest, target, jobs } = options;
  const byName = new Map(manifest.artifacts.map((artifact) => [artifact.name, artifact]));
  const schema = byName.get(manifest.dump.schemaArtifact)!;
  const parts = manifest.dump.parts.map((part) => byName.get(part.artifact)!);
  const base = [
    "--no-password",
    "--exit-on-error",
    `--dbname=${conninfoDbname(target.database)}`,
    ...(options.noOwner ? ["--no-owner", "--no-privileges"] : []),
  ];
  const clean = options.clean ? ["--clean", "--if-exists"] : [];
  // One controller for every pg_restore: the first failure (or Ctrl-C) stops the others.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let changed = false;
  const progress = meter(
    "restore",
    schema.size + parts.reduce((sum, part) => sum + part.size, 0),
    options.onProgress,
  );

  const pass = async (
    step: string,
    artifact: { name: string; size: number },
    args: readonly string[],
    extra: { list?: string; captureStdout?: boolean } = {},
  ): Promise<string> => {
    const exit: PgRestoreExit = await runPgRestore({
      repo: options.repo,
      manifest,
      key: options.key,
      target,
      program: options.program,
      artifact,
      args,
      ...(extra.list !== undefined ? { list: extra.list } : {}),
      ...(extra.captureStdout ? { captureStdout: true } : {}),
      signal: stop.signal,
      progress,
    });
    if (exit.code !== 0) {
      throw new BulwarkError(
        "restore_failed",
        `pg_restore of ${artifact.name} (${step}) failed (${exit.signal ?? `exit ${exit.code}`}); ${changed ? PARTIAL_RESTORE : "the target was left unchanged (the schema step is one transaction)"}`,
        { details: exit.stderr ? exit.stderr.split("\n").slice(-6) : [] },
      );
    }
    return exit.stdout;
  };
  /** Runs `task` over `items`, `jobs` at once; waits for all, then throws the first failure. */
  const all = async <T>(items: readonly T[], task: (item: T) => Promise<unknown>) => {
    let failure: { error: unknown } | undefined;
    await mapLimited(items, jobs, async (item) => {
      if (failure) return;
      try {
        await task(item);
      } catch (error) {
        if (!failure) failure = { error };
        stop.abort();
      }
    });
    if (failure) throw failure.error;
  };

  try {
    if (options.clean) {
      changed = true;
      await dropForeignKeysInto(options);
    }
    await pass("pre-data", schema, [...base, "--single-transaction", "--section=pre-data", ...clean]);
    changed = true;
    await all([schema, ...parts], (artifact) =>
      pass("data", artifact, [...base, "--single-transaction", "--section=data"]),
    );
    const list = await pass("list", schema, ["--list", "--section=post-data"], { captureStdout: true });
    const waves = postDataWaves(list, jobs * LISTS_PER_JOB);
    await all(waves.parallel, (entries) =>
      pass("indexes and keys", schema, [...base, ...clean], { list: entries }),
    );
    if (waves.rest !== "") {
      await pass("post-data", schema, [...base, "--single-transaction", ...clean], { list: waves.rest });
    }
  } catch (error) {
    if (options.signal?.aborted) {
      throw new BulwarkError(
        "backup_interrupted",
        `restore interrupted; ${changed ? PARTIAL_RESTORE : "the target was left unchanged"}`,
      );
    }
    if (isBulwarkError(error) && error.code === "restore_failed") throw error;
    const message = isBulwarkError(error) ? error.message : `restore failed: ${(error as Error).message}`;
    throw new BulwarkError(
      isBulwarkError(error) ? error.code : "restore_failed",
      changed ? `${message}; ${PARTIAL_RESTORE}` : message,
      { details: isBulwarkError(error) ? error.details : [] },
    );
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * --clean, first step: drops the foreign keys in the target that reference a table of the backup.
 * pg_restore --clean drops a single archive's objects in reverse order, foreign keys (post-data)
 * first; the pre-data step of a split restore drops tables only, and DROP TABLE refuses a table
 * another table's foreign key references. The tables' own indexes, keys and triggers go with
 * DROP TABLE; the post-data steps recreate them (with --clean: DROP … IF EXISTS first).
 */
async function dropForeignKeysInto(options: RestoreOptions & { readonly manifest: SplitManifest }) {
  const client = await connect(options.target);
  try {
    await client.query("begin");
    const statements = await client.query<{ sql: string }>(
      `select format('alter table %s drop constraint if exists %I', c.conrelid::regclass, c.conname) as sql
       from pg_constraint c
       where c.contype = 'f' and c.conparentid = 0
         and exists (
           select 1 from pg_partition_tree(c.confrelid) t
           join pg_class k on k.oid = t.relid join pg_namespace n on n.oid = k.relnamespace
           join unnest($1::text[], $2::text[]) as b(schema, name) on b.schema = n.nspname and b.name = k.relname)`,
      [
        options.manifest.tables.map((table) => table.schema),
        options.manifest.tables.map((table) => table.name),
      ],
    );
    for (const row of statements.rows) await client.query(row.sql);
    await client.query("commit");
  } finally {
    await client.end().catch(() => {});
  }
}
