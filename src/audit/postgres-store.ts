/**
 * The shared store: one table of records, one of checkpoints and prune records, in PostgreSQL.
 * Each gateway process writes its own chain (writer id), so instances never contend for a chain.
 *
 * Every batch is one transaction. When PostgreSQL cannot be reached (or refuses the insert), the
 * batch goes to a local spool file instead (spool-<writer>.jsonl in `spoolDir`, fsynced per the
 * configured durability), and from then on every batch goes there too, so order is kept. A timer
 * ships the spool in order, `batchSize` lines per transaction, once PostgreSQL answers again;
 * inserts use ON CONFLICT DO NOTHING, so a batch whose commit succeeded but whose answer was lost
 * is not stored twice. Spools left by a process that died (its pid is gone) are shipped too.
 */
import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { constants, open } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import type { Logger } from "pino";
import { isProcessAlive } from "../file-lock.js";
import { AppendFile } from "./append-file.js";
import { spoolName, writerPid } from "./layout.js";
import { type ChainRecord, type CheckpointRecord, type PruneRecord, recordLine } from "./record.js";
import type { PostgresStoreConfig } from "./schema.js";
import { type AuditSink, batchLines, type Durable, type PersistBatch, type SinkObserver } from "./sink.js";
import { SyncPolicy } from "./sync-policy.js";

export interface AuditTables {
  readonly name: string;
  readonly records: string;
  readonly signed: string;
}

export function auditTables(table: string): AuditTables {
  return {
    name: table,
    records: pg.escapeIdentifier(table),
    signed: pg.escapeIdentifier(`${table}_checkpoints`),
  };
}

export async function ensureTables(client: pg.ClientBase, tables: AuditTables): Promise<void> {
  // `line` is the record exactly as hashed and signed; the other columns exist for queries.
  const statements = [
    `create table if not exists ${tables.records} (
      writer text not null, seq bigint not null, kind text not null, time timestamptz not null,
      action text, outcome text, subject text, route text, line text not null,
      primary key (writer, seq))`,
    `create index if not exists ${pg.escapeIdentifier(`${tables.name}_time`)} on ${tables.records} (time)`,
    `create table if not exists ${tables.signed} (
      writer text not null, kind text not null, seq bigint not null, time timestamptz not null,
      line text not null, primary key (writer, kind, seq))`,
  ];
  for (const statement of statements) {
    try {
      await client.query(statement);
    } catch (error) {
      // Two instances creating the table at once: "if not exists" is not atomic in PostgreSQL,
      // and the loser gets a unique violation on the catalog (23505) or "already exists" (42P07).
      const code = (error as { code?: string }).code;
      if (code !== "23505" && code !== "42P07") throw error;
    }
  }
}

/** Inserts records and signed records in order; duplicates (same writer and seq) are skipped. */
export async function insertLines(
  client: pg.ClientBase,
  tables: AuditTables,
  records: readonly ChainRecord[],
  signed: readonly (CheckpointRecord | PruneRecord)[],
): Promise<void> {
  if (records.length > 0) {
    const values: unknown[] = [];
    const rows = records.map((record, index) => {
      const event = record.kind === "event" ? record : undefined;
      values.push(
        record.writer,
        record.seq,
        record.kind,
        record.time,
        event?.action ?? null,
        event?.outcome ?? null,
        event?.subject ?? null,
        event?.resource.route ?? null,
        recordLine(record),
      );
      const base = index * 9;
      return `(${Array.from({ length: 9 }, (_, i) => `$${base + i + 1}`).join(",")})`;
    });
    await client.query(
      `insert into ${tables.records} (writer, seq, kind, time, action, outcome, subject, route, line)
       values ${rows.join(",")} on conflict do nothing`,
      values,
    );
  }
  if (signed.length > 0) {
    const values: unknown[] = [];
    const rows = signed.map((record, index) => {
      values.push(record.writer, record.kind, record.seq, record.time, recordLine(record));
      const base = index * 5;
      return `($${base + 1},$${base + 2},$${base + 3},$${base + 4},$${base + 5})`;
    });
    await client.query(
      `insert into ${tables.signed} (writer, kind, seq, time, line) values ${rows.join(",")} on conflict do nothing`,
      values,
    );
  }
}

// Most bytes of spool read per shipping step.
const SHIP_READ_BYTES = 1024 * 1024;

/** The complete lines of a file from `offset` on (at most SHIP_READ_BYTES of them). */
async function readCompleteLines(path: string, offset: number): Promise<string[]> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    const size = (await handle.stat()).size;
    const buffer = Buffer.alloc(Math.min(SHIP_READ_BYTES, Math.max(0, size - offset)));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    const end = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
    return end < 0 ? [] : buffer.subarray(0, end).toString("utf8").split("\n");
  } finally {
    await handle.close();
  }
}

export class PostgresSink implements AuditSink {
  readonly kind = "postgres";
  private readonly pool: pg.Pool;
  private readonly tables: AuditTables;
  private readonly spoolPath: string;
  private readonly policy: SyncPolicy;
  private spool: AppendFile | undefined;
  private tablesReady = false;
  private pending = false;
  private spoolBroken = false;
  private reachable = true;
  private lock: Promise<unknown> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private shipping = false;
  private closed = false;
  /** Spool files of dead processes still to ship. */
  private orphans: string[];

  constructor(
    private readonly config: PostgresStoreConfig,
    writer: string,
    private readonly observer: SinkObserver,
    private readonly log?: Logger,
  ) {
    mkdirSync(config.spoolDir, { recursive: true, mode: 0o700 });
    this.spoolPath = join(config.spoolDir, spoolName(writer));
    this.tables = auditTables(config.table);
    this.pool = new pg.Pool({
      connectionString: config.url,
      max: 2,
      connectionTimeoutMillis: config.connectTimeout,
      idleTimeoutMillis: 10_000,
      query_timeout: config.connectTimeout + 10_000,
    });
    // An idle client whose server went away emits here; the next query reports it.
    this.pool.on("error", () => undefined);
    this.policy = new SyncPolicy(config.durability, config.batchInterval, async () => {
      await this.spool?.sync();
    });
    this.orphans = readdirSync(config.spoolDir)
      .filter((name) => /^spool-.+\.jsonl$/.test(name) && name !== spoolName(writer))
      .filter((name) => {
        const pid = writerPid(name.slice("spool-".length, -".jsonl".length));
        return pid !== undefined && pid !== process.pid && !isProcessAlive(pid);
      })
      .map((name) => join(config.spoolDir, name));
    if (this.orphans.length > 0) this.armRetry(0);
  }

  get spooling(): boolean {
    return this.pending;
  }

  write(batch: PersistBatch): Promise<Durable> {
    return this.locked(async () => {
      if (!this.pending) {
        try {
          await this.transaction((client) =>
            insertLines(client, this.tables, batch.records, batch.checkpoints),
          );
          // Committed: durable as PostgreSQL's own settings make commits.
          return "store" as const;
        } catch (error) {
          this.markUnreachable(error);
        }
      }
      try {
        this.spool ??= await AppendFile.open(this.spoolPath, false);
        await this.spool.append(batchLines([...batch.records, ...batch.checkpoints].map(recordLine)));
        await this.policy.afterWrite();
      } catch (error) {
        if (!this.spoolBroken) {
          this.spoolBroken = true;
          this.observer.stateChanged(false, `spool: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
        }
        throw error;
      }
      if (this.spoolBroken) {
        this.spoolBroken = false;
        this.observer.stateChanged(true);
      }
      this.pending = true;
      this.observer.spooled?.(batch.records.length);
      this.armRetry(this.config.retryInterval);
      return "spool" as const;
    });
  }

  async sync(): Promise<void> {
    await this.policy.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.policy.stop();
    await this.locked(async () => {
      await this.policy.flush().catch(() => undefined);
      await this.spool?.close().catch(() => undefined);
      this.spool = undefined;
    });
    await this.pool.end().catch(() => undefined);
  }

  private locked<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work, work);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    // A server that dies while the client is checked out also emits "error" on the client; the
    // failing query reports it, so the event itself must not become an uncaught exception.
    const ignore = () => undefined;
    client.on("error", ignore);
    let broken = false;
    try {
      if (!this.tablesReady) {
        await ensureTables(client, this.tables);
        this.tablesReady = true;
      }
      await client.query("begin");
      await work(client);
      await client.query("commit");
    } catch (error) {
      broken = true;
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      // A broken client is discarded and may still emit late errors: it keeps the listener.
      if (!broken) client.off("error", ignore);
      client.release(broken);
    }
    if (!this.reachable) {
      this.reachable = true;
      this.observer.stateChanged(true);
    }
  }

  private markUnreachable(error: unknown): void {
    if (!this.reachable) return;
    this.reachable = false;
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    this.observer.stateChanged(false, `postgres: ${reason}; records go to the spool`);
  }

  private armRetry(delay: number): void {
    // One shipper at a time: a second one would start again from the spool's beginning.
    if (this.retryTimer || this.shipping || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.shipping = true;
      void this.ship()
        .catch(() => false)
        .then((done) => {
          this.shipping = false;
          if (!done || this.pending) this.armRetry(this.config.retryInterval);
        });
    }, delay);
    this.retryTimer.unref();
  }

  /** Ships orphans, then this writer's spool; true once nothing waits. */
  private async ship(): Promise<boolean> {
    // Probe outside the lock, so writes are not held up by connection attempts to a dead server.
    try {
      await this.pool.query("select 1");
    } catch (error) {
      this.markUnreachable(error);
      return false;
    }
    while (this.orphans.length > 0) {
      const path = this.orphans[0]!;
      if (!(await this.shipFile(path, true))) return false;
      this.orphans.shift();
    }
    if (!this.pending) return true;
    return this.shipFile(this.spoolPath, false);
  }

  /**
   * Ships one spool file from its start, `batchSize` lines per transaction. Reading and inserting
   * need no lock (the file only grows, and while records spool nothing else inserts for this
   * writer); only the last step does: with nothing left to read, the spool is emptied (or an
   * orphan removed) under the lock, so no batch can be appended in between. A torn last line of
   * an orphan (a write cut by its crash, never acknowledged) is left out.
   */
  private async shipFile(path: string, orphan: boolean): Promise<boolean> {
    let offset = 0;
    let shipped = 0;
    for (;;) {
      const lines = await readCompleteLines(path, offset);
      if (lines.length <= 2 * this.config.batchSize) {
        // The last stretch is shipped under the lock, so writers cannot keep the spool from ever
        // running empty; meanwhile they wait (in the trail's queue) for a few transactions.
        const finished = await this.locked(async () => {
          const rest = await readCompleteLines(path, offset);
          if (rest.length > 8 * this.config.batchSize) return false;
          for (let start = 0; start < rest.length; start += this.config.batchSize) {
            const group = rest.slice(start, start + this.config.batchSize);
            shipped += await this.insertSpooled(group);
            offset += group.reduce((bytes, line) => bytes + Buffer.byteLength(line, "utf8") + 1, 0);
          }
          if (orphan) unlinkSync(path);
          else if (this.spool) {
            await this.spool.truncate(0);
            await this.spool.sync();
            this.pending = false;
          }
          return true;
        });
        if (!finished) continue;
        if (shipped > 0) this.log?.info({ records: shipped, spool: path }, "audit spool shipped to postgres");
        return true;
      }
      for (let start = 0; start < lines.length; start += this.config.batchSize) {
        const group = lines.slice(start, start + this.config.batchSize);
        shipped += await this.insertSpooled(group);
        offset += group.reduce((bytes, line) => bytes + Buffer.byteLength(line, "utf8") + 1, 0);
      }
    }
  }

  /** Inserts spooled lines (records and checkpoints) in one transaction; returns the record count. */
  private async insertSpooled(lines: readonly string[]): Promise<number> {
    const records: ChainRecord[] = [];
    const signed: CheckpointRecord[] = [];
    for (const line of lines) {
      const parsed = JSON.parse(line) as ChainRecord | CheckpointRecord;
      if (parsed.kind === "checkpoint") signed.push(parsed);
      else records.push(parsed);
    }
    try {
      await this.transaction((client) => insertLines(client, this.tables, records, signed));
    } catch (error) {
      this.markUnreachable(error);
      throw error;
    }
    this.observer.shipped?.(records.length);
    return records.length;
  }
}
