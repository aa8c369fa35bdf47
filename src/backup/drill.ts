/**
 * `bulwark drill restore`: restore a backup into a scratch database, prove the data is the
 * backed-up data (row counts and checksums against the manifest), run the user's SQL
 * assertions, measure RTO by phase and RPO, compare them with the objectives, and always drop the
 * scratch database. A backup that cannot be restored (wrong key, corrupt, truncated, pg_restore
 * failing) is a failed drill with evidence, not an operational error: finding that out is the
 * point of a drill.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { BulwarkError, isBulwarkError } from "../errors.js";
import { VERSION } from "../version.js";
import type { BackupKey } from "./backup-key.js";
import { connect, type DbTarget, withDatabase } from "./connection.js";
import { isSplit, type Manifest } from "./manifest.js";
import type { BackupRepository } from "./repository.js";
import { type PhaseTimings, type RestoreProgress, restoreBackup } from "./restore-backup.js";
import { applyTextFormSettings, listTables, tableStats } from "./table-stats.js";
import { listArchivedWal } from "./wal-archive.js";

export interface DrillOptions {
  readonly repo: BackupRepository;
  readonly manifest: Manifest;
  readonly key: BackupKey;
  /** The server the scratch database is created on (its database is used for CREATE/DROP). */
  readonly server: DbTarget;
  readonly assertions: readonly string[];
  readonly rtoObjectiveMs?: number | undefined;
  readonly rpoObjectiveMs?: number | undefined;
  /** RPO is measured to this time instead of now (the moment data was lost). */
  readonly incidentTime?: Date | undefined;
  readonly pgBin?: string | undefined;
  /** pg_restore processes at once for a split backup (restore-split.ts). */
  readonly jobs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RestoreProgress | { phase: "verify"; table: string }) => void;
}

export interface TableCheck {
  readonly schema: string;
  readonly name: string;
  readonly expectedRows: number | null;
  readonly restoredRows: number | null;
  readonly checksumMatches: boolean;
  readonly ok: boolean;
}

export interface AssertionResult {
  readonly sql: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Objective {
  readonly measuredMs: number;
  readonly objectiveMs: number | null;
  readonly met: boolean | null;
}

export interface DrillReport {
  readonly kind: "drill";
  readonly version: 1;
  readonly tool: { readonly name: "bulwark"; readonly version: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ok: boolean;
  readonly backup: {
    readonly id: string;
    readonly database: string;
    readonly snapshotTakenAt: string;
    readonly size: number;
    readonly keyId: string;
    readonly repository: string;
    /** "custom" (one artifact) or "split" (`backup --jobs`), and how many artifacts. */
    readonly format: Manifest["dump"]["format"];
    readonly artifacts: number;
  };
  /** pg_restore processes at once: 1 for a single artifact, else the drill's --jobs. */
  readonly restoreJobs: number;
  readonly server: string;
  readonly scratchDatabase: string;
  readonly scratchDropped: boolean;
  readonly phases: {
    readonly fetchMs: number;
    readonly decryptMs: number;
    readonly restoreMs: number;
    readonly verifyMs: number;
  };
  readonly rto: Objective;
  readonly rpo: Objective & {
    readonly reference: "now" | "incident";
    readonly referenceTime: string;
    /**
     * With WAL archiving into the repository: the newest archived WAL file and its age at the
     * reference time, the RPO point-in-time recovery could reach. Reported, not checked against
     * the objective: drills do not restore base backups yet.
     */
    readonly archive: {
      readonly newestWal: string;
      readonly archivedAt: string;
      readonly lagMs: number;
    } | null;
  };
  readonly tables: readonly TableCheck[];
  readonly assertions: readonly AssertionResult[];
  /** Why the drill failed, one line each; empty when ok. */
  readonly failures: readonly string[];
}

/** Error codes that mean "this backup cannot be restored": a drill finding, not a crash. */
const FINDINGS = new Set(["backup_wrong_key", "backup_corrupt", "backup_truncated", "restore_failed"]);

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function scratchName(now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `bulwark_drill_${stamp}_${randomBytes(3).toString("hex")}`;
}

async function verifyTables(
  client: pg.Client,
  manifest: Manifest,
  onTable?: (table: string) => void,
): Promise<TableCheck[]> {
  await client.query("begin isolation level repeatable read read only");
  await applyTextFormSettings(client);
  const restored = await listTables(client);
  const key = (table: { schema: string; name: string }) => `${table.schema}.${table.name}`;
  const restoredKeys = new Set(restored.map(key));
  const checks: TableCheck[] = [];
  for (const expected of manifest.tables) {
    onTable?.(key(expected));
    if (!restoredKeys.has(key(expected))) {
      checks.push({
        schema: expected.schema,
        name: expected.name,
        expectedRows: expected.rows,
        restoredRows: null,
        checksumMatches: false,
        ok: false,
      });
      continue;
    }
    const actual = await tableStats(client, expected);
    const checksumMatches = actual.checksum === expected.checksum;
    checks.push({
      schema: expected.schema,
      name: expected.name,
      expectedRows: expected.rows,
      restoredRows: actual.rows,
      checksumMatches,
      ok: checksumMatches && actual.rows === expected.rows,
    });
  }
  const expectedKeys = new Set(manifest.tables.map(key));
  for (const table of restored) {
    if (!expectedKeys.has(key(table))) {
      checks.push({
        schema: table.schema,
        name: table.name,
        expectedRows: null,
        restoredRows: (await tableStats(client, table)).rows,
        checksumMatches: false,
        ok: false,
      });
    }
  }
  await client.query("commit");
  return checks;
}

/** An assertion passes when it returns one row whose first column is true. */
async function runAssertion(client: pg.Client, sql: string): Promise<AssertionResult> {
  try {
    await client.query("begin read only");
    await client.query("set local statement_timeout = '5min'");
    const result = await client.query({ text: sql, rowMode: "array" });
    await client.query("commit");
    if (result.rows.length !== 1)
      return { sql, ok: false, detail: `returned ${result.rows.length} rows, expected one` };
    const value = (result.rows[0] as unknown[])[0];
    if (value === true) return { sql, ok: true, detail: "true" };
    return { sql, ok: false, detail: `returned ${JSON.stringify(value)}, expected true` };
  } catch (error) {
    await client.query("rollback").catch(() => {});
    return { sql, ok: false, detail: `error: ${(error as Error).message}` };
  }
}

function objective(measuredMs: number, objectiveMs: number | undefined): Objective {
  return {
    measuredMs: Math.round(measuredMs),
    objectiveMs: objectiveMs ?? null,
    met: objectiveMs === undefined ? null : measuredMs <= objectiveMs,
  };
}

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const { manifest, server } = options;
  const startedAt = new Date();
  const scratch = scratchName(startedAt);
  const failures: string[] = [];
  let phases: PhaseTimings = { fetchMs: 0, decryptMs: 0, restoreMs: 0 };
  let verifyMs = 0;
  let tables: TableCheck[] = [];
  const assertions: AssertionResult[] = [];
  let scratchDropped = false;

  const admin = await connect(server);
  try {
    const createStart = performance.now();
    await admin.query(`create database ${quoteIdent(scratch)}`);
    const createMs = performance.now() - createStart;
    const scratchTarget = withDatabase(server, scratch);
    try {
      let restored = false;
      try {
        phases = await restoreBackup({
          repo: options.repo,
          manifest,
          key: options.key,
          target: scratchTarget,
          freshTarget: true,
          pgBin: options.pgBin,
          ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
        phases.restoreMs += createMs;
        restored = true;
      } catch (error) {
        if (!isBulwarkError(error) || !FINDINGS.has(error.code)) throw error;
        failures.push(`${error.code}: ${error.message}`);
      }
      if (restored) {
        const verifyStart = performance.now();
        const client = await connect(scratchTarget);
        try {
          tables = await verifyTables(client, manifest, (table) =>
            options.onProgress?.({ phase: "verify", table }),
          );
          for (const sql of options.assertions) assertions.push(await runAssertion(client, sql));
        } finally {
          await client.end().catch(() => {});
        }
        verifyMs = performance.now() - verifyStart;
        for (const table of tables) {
          if (table.ok) continue;
          const name = `${table.schema}.${table.name}`;
          if (table.expectedRows === null)
            failures.push(`table ${name} is in the restore but not in the manifest`);
          else if (table.restoredRows === null) failures.push(`table ${name} is missing from the restore`);
          else if (table.restoredRows !== table.expectedRows)
            failures.push(
              `table ${name}: ${table.restoredRows} rows restored, the manifest says ${table.expectedRows}`,
            );
          else failures.push(`table ${name}: content checksum differs from the manifest`);
        }
        for (const assertion of assertions) {
          if (!assertion.ok) failures.push(`assertion failed: ${assertion.sql} (${assertion.detail})`);
        }
      }
    } finally {
      await admin
        .query(`drop database if exists ${quoteIdent(scratch)} with (force)`)
        .then(() => {
          scratchDropped = true;
        })
        .catch((error: unknown) => {
          failures.push(`scratch database ${scratch} could not be dropped: ${(error as Error).message}`);
        });
    }
  } catch (error) {
    if (isBulwarkError(error)) throw error;
    throw new BulwarkError(
      "backup_db_unreachable",
      `drill failed on ${server.display}: ${(error as Error).message}`,
      {
        details: ["the drill needs a role allowed to CREATE DATABASE on the --db server"],
      },
    );
  } finally {
    await admin.end().catch(() => {});
  }

  const finishedAt = new Date();
  const rtoMs = phases.fetchMs + phases.decryptMs + phases.restoreMs + verifyMs;
  const referenceTime = options.incidentTime ?? finishedAt;
  const rpoMs = referenceTime.getTime() - new Date(manifest.snapshot.takenAt).getTime();
  const rto = objective(rtoMs, options.rtoObjectiveMs);
  const rpo = objective(rpoMs, options.rpoObjectiveMs);
  if (rto.met === false)
    failures.push(`RTO objective missed: ${formatMs(rto.measuredMs)} > ${formatMs(rto.objectiveMs!)}`);
  if (rpo.met === false)
    failures.push(`RPO objective missed: ${formatMs(rpo.measuredMs)} > ${formatMs(rpo.objectiveMs!)}`);
  if (options.incidentTime && rpoMs < 0) failures.push("the incident time is before the backup's snapshot");

  return {
    kind: "drill",
    version: 1,
    tool: { name: "bulwark", version: VERSION },
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    ok: failures.length === 0,
    backup: {
      id: manifest.id,
      database: manifest.database,
      snapshotTakenAt: manifest.snapshot.takenAt,
      size: manifest.size,
      keyId: manifest.encryption.keyId,
      repository: options.repo.location,
      format: manifest.dump.format,
      artifacts: manifest.artifacts.length,
    },
    restoreJobs: isSplit(manifest) ? (options.jobs ?? 1) : 1,
    server: server.display,
    scratchDatabase: scratch,
    scratchDropped,
    phases: {
      fetchMs: Math.round(phases.fetchMs),
      decryptMs: Math.round(phases.decryptMs),
      restoreMs: Math.round(phases.restoreMs),
      verifyMs: Math.round(verifyMs),
    },
    rto,
    rpo: {
      ...rpo,
      reference: options.incidentTime ? "incident" : "now",
      referenceTime: referenceTime.toISOString(),
      archive: await archiveLag(options.repo, referenceTime),
    },
    tables,
    assertions,
    failures,
  };
}

/** The newest archived WAL file (by archive time) and its age at `reference`, if any. */
async function archiveLag(repo: BackupRepository, reference: Date): Promise<DrillReport["rpo"]["archive"]> {
  let newest: { name: string; at: number } | undefined;
  for (const wal of await listArchivedWal(repo.store)) {
    const at = wal.archivedAt.getTime();
    if (!newest || at > newest.at) newest = { name: wal.name, at };
  }
  if (!newest) return null;
  return {
    newestWal: newest.name,
    archivedAt: new Date(newest.at).toISOString(),
    lagMs: Math.round(reference.getTime() - newest.at),
  };
}

/** "1h 2m 3s", "850ms": durations as people read them in reports. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let seconds = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  if (seconds > 0 || parts.length === 0) parts.push(`${seconds}s`);
  return parts.join(" ");
}
