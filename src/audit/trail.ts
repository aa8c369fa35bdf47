/**
 * The audit trail a gateway process writes: the API the gateway calls.
 *
 * ```ts
 * const trail = createAuditTrail(config.audit, { log, observer });   // throws BulwarkError on a bad key
 * trail.record(event);                  // never blocks, never throws: queued, written in the background
 * if (!trail.available) reply(503);     // `audit: required` routes: records cannot be made durable now
 * await trail.recordDurable(event);     // resolves { writer, seq, durable } once durable; rejects
 *                                       // BulwarkError("audit_unavailable") when it cannot be
 * await trail.flush();                  // everything queued is written and synced
 * await trail.close();                  // flush, write a final checkpoint, close the store
 * ```
 *
 * One trail is one chain (`writer`): records get seq 1, 2, 3 … in the order they are written;
 * each carries the hash of the previous one (record.ts). Every `checkpointEvery` records, and at
 * least every `checkpointInterval` while records arrive, a checkpoint signed with the Ed25519
 * `signingKey` covers the last record's seq and hash; close() writes a last one.
 *
 * Events are checked by sanitizeEvent (event.ts): only the known fields are kept, suspicious
 * values are refused. Records wait in a bounded in-memory queue (`queueSize`) and are written in
 * batches by one loop: records that arrive while a write and its fsync run go out together next
 * (group commit). When the store fails, the batch goes back to the queue and is retried every
 * second; when the queue is full, record() counts the event as dropped, and the chain gets one
 * `dropped` record saying how many were lost. The PostgreSQL store spools to local disk instead
 * of failing (postgres-store.ts).
 */
import type { Logger } from "pino";
import { BulwarkError } from "../errors.js";
import { type AuditEvent, type AuditEventFields, sanitizeEvent } from "./event.js";
import { JsonlSink } from "./jsonl-store.js";
import { newWriterId } from "./layout.js";
import { PostgresSink } from "./postgres-store.js";
import {
  type ChainRecord,
  type CheckpointRecord,
  type DroppedRecord,
  type EventRecord,
  GENESIS_HASH,
  sealRecord,
} from "./record.js";
import type { AuditConfig } from "./schema.js";
import { loadSigningKey, type SigningKey, signRecord } from "./signing.js";
import type { AuditSink, Durable, SinkObserver } from "./sink.js";

export type { AuditEvent } from "./event.js";

export interface AuditReceipt {
  readonly writer: string;
  readonly seq: number;
  /** "spool" when the PostgreSQL store was down and the record waits on local disk. */
  readonly durable: Durable;
}

/** Events for metrics; every member optional. createAuditMetrics (metrics.ts) implements it. */
export interface AuditObserver {
  recorded?(records: number): void;
  dropped?(events: number, reason: "queue_full" | "invalid"): void;
  checkpointed?(seq: number): void;
  storeStateChanged?(up: boolean): void;
  spooled?(records: number): void;
  shipped?(records: number): void;
}

export interface AuditTrailOptions {
  readonly log?: Logger;
  readonly observer?: AuditObserver;
  /** A loaded key instead of reading `config.signingKey` (tests, key held elsewhere). */
  readonly signingKey?: SigningKey;
  /** Chain id; default `<writerPrefix or host>-<pid>-<start time>`. */
  readonly writer?: string;
}

export interface AuditTrail {
  readonly writer: string;
  /** False when a record cannot be made durable now: `audit: required` routes answer 503. */
  readonly available: boolean;
  record(event: AuditEvent): void;
  recordDurable(event: AuditEvent): Promise<AuditReceipt>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface Pending {
  readonly fields: AuditEventFields;
  readonly resolve?: (receipt: AuditReceipt) => void;
  readonly reject?: (error: unknown) => void;
}

// Largest batch one write takes; bigger queues drain in several writes.
const MAX_BATCH = 2000;
const RETRY_MS = 1000;

export function createAuditTrail(config: AuditConfig, options: AuditTrailOptions = {}): AuditTrail {
  return new Trail(config, options);
}

class Trail implements AuditTrail {
  readonly writer: string;
  private readonly key: SigningKey;
  private readonly sink: AuditSink;
  private readonly log: Logger | undefined;
  private readonly observer: AuditObserver;
  private queue: Pending[] = [];
  private seq = 0;
  private prev = GENESIS_HASH;
  private sinceCheckpoint = 0;
  private checkpointDue = false;
  private dropped = 0;
  private droppedSince = "";
  private draining = false;
  private failing = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly checkpointTimer: NodeJS.Timeout;
  private idleWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly config: AuditConfig,
    options: AuditTrailOptions,
  ) {
    this.writer = options.writer ?? newWriterId(config.writerPrefix);
    this.key = options.signingKey ?? loadSigningKey(config.signingKey);
    this.log = options.log;
    this.observer = options.observer ?? {};
    const sinkObserver: SinkObserver = {
      stateChanged: (up, reason) => {
        this.observer.storeStateChanged?.(up);
        if (up) this.log?.info({ store: config.store.type }, "audit store reachable again");
        else this.log?.error({ store: config.store.type, reason }, "audit store unavailable");
      },
      spooled: (records) => this.observer.spooled?.(records),
      shipped: (records) => this.observer.shipped?.(records),
    };
    this.sink =
      config.store.type === "jsonl"
        ? new JsonlSink(config.store, this.writer, sinkObserver)
        : new PostgresSink(config.store, this.writer, sinkObserver, this.log);
    this.checkpointTimer = setInterval(() => {
      if (this.sinceCheckpoint > 0) {
        this.checkpointDue = true;
        this.kick();
      }
    }, config.checkpointInterval);
    this.checkpointTimer.unref();
  }

  get available(): boolean {
    // After a failed write, `failing` holds for RETRY_MS; then the next write (a queued record or
    // a required request) tries the store again, so recovery needs no separate probe.
    if (this.closed || this.failing) return false;
    if (this.sink.spooling && !this.spoolForRequired) return false;
    return this.queue.length < this.config.queueSize;
  }

  private get spoolForRequired(): boolean {
    return this.config.store.type === "postgres" && this.config.store.spoolForRequired;
  }

  record(event: AuditEvent): void {
    try {
      const fields = sanitizeEvent(event);
      if (this.closed || this.queue.length >= this.config.queueSize) {
        this.drop();
        return;
      }
      this.queue.push({ fields });
      this.kick();
    } catch (error) {
      this.observer.dropped?.(1, "invalid");
      this.log?.warn({ reason: (error as Error).message }, "audit event refused");
    }
  }

  recordDurable(event: AuditEvent): Promise<AuditReceipt> {
    let fields: AuditEventFields;
    try {
      fields = sanitizeEvent(event);
    } catch (error) {
      this.observer.dropped?.(1, "invalid");
      return Promise.reject(new BulwarkError("internal", `audit event refused: ${(error as Error).message}`));
    }
    if (!this.available) {
      return Promise.reject(new BulwarkError("audit_unavailable", "the audit store cannot take records now"));
    }
    return new Promise<AuditReceipt>((resolve, reject) => {
      this.queue.push({ fields, resolve, reject });
      this.kick();
    });
  }

  async flush(): Promise<void> {
    if (this.failing && this.queue.length > 0) {
      throw new BulwarkError("audit_unavailable", "the audit store cannot take records now");
    }
    if (this.queue.length > 0 || this.draining || this.checkpointDue) {
      await new Promise<void>((resolve, reject) => {
        this.idleWaiters.push({ resolve, reject });
        this.kick();
      });
    }
    await this.sink.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.checkpointTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.sinceCheckpoint > 0 || this.queue.length > 0) this.checkpointDue = true;
    try {
      if (!this.failing) await this.flush();
    } catch (error) {
      this.log?.error({ reason: (error as Error).message }, "audit records not written at close");
    } finally {
      this.closed = true;
      for (const item of this.queue)
        item.reject?.(new BulwarkError("audit_unavailable", "audit trail closed"));
      if (this.queue.length > 0) this.observer.dropped?.(this.queue.length, "queue_full");
      this.queue = [];
      await this.sink.close();
    }
  }

  private drop(): void {
    if (this.dropped === 0) {
      this.droppedSince = new Date().toISOString();
      this.log?.warn({ queueSize: this.config.queueSize }, "audit queue full: records dropped");
    }
    this.dropped += 1;
    this.observer.dropped?.(1, "queue_full");
  }

  private kick(): void {
    if (this.draining || this.failing) return;
    void this.drain();
  }

  private link<T extends ChainRecord>(body: Omit<T, "v" | "writer" | "seq" | "prev" | "hash">): T {
    const unhashed = { v: 1, ...body, writer: this.writer, seq: this.seq + 1, prev: this.prev };
    const record = sealRecord<T>(unhashed as unknown as Omit<T, "hash">);
    this.seq = record.seq;
    this.prev = record.hash;
    return record;
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (!this.failing && (this.queue.length > 0 || this.checkpointDue)) {
        const items = this.queue.length <= MAX_BATCH ? this.queue : this.queue.slice(0, MAX_BATCH);
        this.queue = this.queue.length <= MAX_BATCH ? [] : this.queue.slice(MAX_BATCH);
        const before = { seq: this.seq, prev: this.prev, sinceCheckpoint: this.sinceCheckpoint };
        const dropped = this.dropped;
        const records: ChainRecord[] = [];
        if (dropped > 0) {
          records.push(
            this.link<DroppedRecord>({
              kind: "dropped",
              time: new Date().toISOString(),
              count: dropped,
              since: this.droppedSince,
            }),
          );
        }
        const seqs: number[] = [];
        for (const item of items) {
          const record = this.link<EventRecord>({ kind: "event", ...item.fields });
          records.push(record);
          seqs.push(record.seq);
        }
        this.sinceCheckpoint += records.length;
        const checkpoints: CheckpointRecord[] = [];
        if (
          this.seq > 0 &&
          (this.sinceCheckpoint >= this.config.checkpointEvery ||
            (this.checkpointDue && this.sinceCheckpoint > 0))
        ) {
          checkpoints.push(
            signRecord<CheckpointRecord>(
              {
                v: 1,
                kind: "checkpoint",
                writer: this.writer,
                seq: this.seq,
                hash: this.prev,
                time: new Date().toISOString(),
              },
              this.key,
            ),
          );
        }
        this.checkpointDue = false;
        let where: Durable;
        try {
          where = await this.sink.write({ records, checkpoints });
        } catch (error) {
          // Nothing of the batch was kept: undo its chain links and retry it later.
          this.seq = before.seq;
          this.prev = before.prev;
          this.sinceCheckpoint = before.sinceCheckpoint;
          if (checkpoints.length > 0) this.checkpointDue = true;
          const unavailable = new BulwarkError(
            "audit_unavailable",
            "the audit store cannot take records now",
            {
              cause: error,
            },
          );
          for (const item of items) item.reject?.(unavailable);
          this.queue = [...items.filter((item) => item.resolve === undefined), ...this.queue];
          this.fail();
          break;
        }
        if (dropped > 0) this.dropped -= dropped;
        if (checkpoints.length > 0) {
          this.sinceCheckpoint = 0;
          this.observer.checkpointed?.(this.seq);
          // A copy outside the audit directory (the log pipeline): a tail cut together with the
          // checkpoint file still leaves the last signed seq and hash on record elsewhere.
          const { seq, hash } = checkpoints[checkpoints.length - 1]!;
          this.log?.info({ auditWriter: this.writer, seq, hash }, "audit checkpoint");
        }
        this.observer.recorded?.(records.length);
        const refuse = where === "spool" && !this.spoolForRequired;
        items.forEach((item, index) => {
          if (!item.resolve) return;
          if (refuse) {
            item.reject!(
              new BulwarkError("audit_unavailable", "the audit store is down; the record waits in the spool"),
            );
          } else {
            item.resolve({ writer: this.writer, seq: seqs[index]!, durable: where });
          }
        });
      }
    } finally {
      this.draining = false;
      if (this.queue.length === 0 || this.failing) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const waiter of waiters) {
          if (this.failing)
            waiter.reject(new BulwarkError("audit_unavailable", "the audit store cannot take records now"));
          else waiter.resolve();
        }
      }
    }
  }

  private fail(): void {
    this.failing = true;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.failing = false;
      this.kick();
    }, RETRY_MS);
    this.retryTimer.unref();
  }
}
