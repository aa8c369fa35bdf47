/**
 * Retention by age (`bulwark audit prune --older-than 90d`). Whole segments are removed from the
 * start of each chain (a JSONL segment is never rewritten; PostgreSQL rows are deleted by seq),
 * and a signed prune record says what went: the writer, the first seq kept, the hash of the last
 * record removed, how many records and which segments. Verify then starts that chain from the
 * prune record instead of from seq 1.
 *
 * The prune record is written and fsynced before anything is deleted, so a crash in between
 * leaves a prune record and the records it describes, which still verifies.
 *
 * Two prunes never run on one store at once (a timer's `bulwark audit prune` and a gateway's own
 * retention pass, or the gateways of several hosts sharing PostgreSQL): a directory is pruned
 * under its `.prune.lock` file, a table under a PostgreSQL advisory lock. A prune that finds the
 * lock taken fails with `audit_prune_busy` (the CLI waits a little first).
 */
import { readFileSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { BulwarkError } from "../errors.js";
import { withFileLock } from "../file-lock.js";
import { AppendFile, fsyncDirectory } from "./append-file.js";
import { listDirectory, PRUNE_FILE } from "./layout.js";
import { auditTables, insertLines } from "./postgres-store.js";
import { type ChainRecord, chainRecordProblem, type PruneRecord, recordLine } from "./record.js";
import { type SigningKey, signRecord } from "./signing.js";

export interface PruneResult {
  readonly writer: string;
  readonly records: number;
  readonly segments: readonly string[];
  /** First seq kept. */
  readonly keptFrom: number;
}

function parseRecords(path: string): ChainRecord[] {
  const records: ChainRecord[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.length === 0) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (chainRecordProblem(value) === undefined) records.push(value as ChainRecord);
    } catch {
      // a torn line: not a record
    }
  }
  return records;
}

export interface PruneOptions {
  readonly dryRun?: boolean;
  readonly now?: Date;
  /** How long to wait for another prune of the same store to finish, in milliseconds. */
  readonly lockTimeout?: number;
}

const LOCK_FILE = ".prune.lock";

/** The signed record of what a prune removes from a chain: up to and including `last`. */
function pruneRecord(
  writer: string,
  last: ChainRecord,
  records: number,
  segments: readonly string[],
  cutoff: Date,
  key: SigningKey,
  options: PruneOptions,
): PruneRecord {
  return signRecord<PruneRecord>(
    {
      v: 1,
      kind: "prune",
      writer,
      seq: last.seq + 1,
      prev: last.hash,
      records,
      olderThan: cutoff.toISOString(),
      segments: [...segments],
      time: (options.now ?? new Date()).toISOString(),
    },
    key,
  );
}

export function pruneDirectory(
  dir: string,
  cutoff: Date,
  key: SigningKey,
  options: PruneOptions = {},
): Promise<PruneResult[]> {
  // A dry run changes nothing, so it needs no lock (and works on a read-only copy).
  if (options.dryRun) return pruneDirectoryLocked(dir, cutoff, key, options);
  const lock = {
    timeout: options.lockTimeout ?? 0,
    subject: `audit directory ${dir}`,
    code: "audit_prune_busy",
  } as const;
  return withFileLock(join(dir, LOCK_FILE), lock, () => pruneDirectoryLocked(dir, cutoff, key, options));
}

async function pruneDirectoryLocked(
  dir: string,
  cutoff: Date,
  key: SigningKey,
  options: PruneOptions,
): Promise<PruneResult[]> {
  const results: PruneResult[] = [];
  const prunes: { record: PruneRecord; paths: string[] }[] = [];
  for (const [writer, segments] of listDirectory(dir).segments) {
    const removed: string[] = [];
    let count = 0;
    let last: ChainRecord | undefined;
    for (const [index, segment] of segments.entries()) {
      const records = parseRecords(segment.path);
      const old = records.every((record) => Date.parse(record.time) < cutoff.getTime());
      // The newest segment may still be written to: only when the file itself is old too.
      const idle = index < segments.length - 1 || statSync(segment.path).mtimeMs < cutoff.getTime();
      if (!old || !idle || records.length === 0) break;
      removed.push(segment.name);
      count += records.length;
      last = records[records.length - 1];
    }
    if (!last) continue;
    const record = pruneRecord(writer, last, count, removed, cutoff, key, options);
    prunes.push({ record, paths: removed.map((name) => join(dir, name)) });
    results.push({ writer, records: count, segments: removed, keptFrom: last.seq + 1 });
  }
  if (options.dryRun || prunes.length === 0) return results;
  const file = await AppendFile.open(join(dir, PRUNE_FILE), false);
  try {
    await file.append(Buffer.from(prunes.map(({ record }) => `${recordLine(record)}\n`).join(""), "utf8"));
    await file.sync();
  } finally {
    await file.close();
  }
  for (const { paths } of prunes) for (const path of paths) unlinkSync(path);
  await fsyncDirectory(dir);
  return results;
}

export async function prunePostgres(
  client: pg.ClientBase,
  table: string,
  cutoff: Date,
  key: SigningKey,
  options: PruneOptions = {},
): Promise<PruneResult[]> {
  const tables = auditTables(table);
  const results: PruneResult[] = [];
  await client.query("begin");
  try {
    // One prune per table at a time, whichever host runs it; released with the transaction.
    const deadline = Date.now() + (options.lockTimeout ?? 0);
    for (;;) {
      const locked = await client.query<{ locked: boolean }>(
        "select pg_try_advisory_xact_lock(hashtext($1)) as locked",
        [`bulwark-audit-prune:${tables.records}`],
      );
      if (locked.rows[0]?.locked) break;
      if (Date.now() >= deadline) {
        throw new BulwarkError(
          "audit_prune_busy",
          `another prune of ${tables.records} is running; try again later`,
        );
      }
      await sleep(200);
    }
    const writers = await client.query<{ writer: string; first: string }>(
      `select writer, min(seq) as first from ${tables.records} group by writer order by writer`,
    );
    for (const { writer, first } of writers.rows) {
      // Records are removed from the chain's start up to the first one at or after the cutoff.
      const keep = await client.query<{ seq: string | null }>(
        `select min(seq) as seq from ${tables.records} where writer = $1 and time >= $2`,
        [writer, cutoff.toISOString()],
      );
      const lastRow = await client.query<{ line: string }>(
        `select line from ${tables.records} where writer = $1 and seq < coalesce($2::bigint, 9223372036854775807)
         order by seq desc limit 1`,
        [writer, keep.rows[0]?.seq ?? null],
      );
      const lastLine = lastRow.rows[0]?.line;
      if (!lastLine) continue;
      const last = JSON.parse(lastLine) as ChainRecord;
      const count = last.seq - Number(first) + 1;
      const record = pruneRecord(writer, last, count, [], cutoff, key, options);
      results.push({ writer, records: count, segments: [], keptFrom: last.seq + 1 });
      if (options.dryRun) continue;
      await insertLines(client, tables, [], [record]);
      await client.query(`delete from ${tables.records} where writer = $1 and seq <= $2`, [writer, last.seq]);
    }
    await client.query(options.dryRun ? "rollback" : "commit");
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  }
  return results;
}
