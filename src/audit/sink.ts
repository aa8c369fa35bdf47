/**
 * What the trail hands to a store. The trail owns the chain (it assigns seq, prev and hash, and
 * makes checkpoints); a sink only persists batches, in the order it receives them, one at a time.
 */
import type { ChainRecord, CheckpointRecord } from "./record.js";

export interface PersistBatch {
  readonly records: readonly ChainRecord[];
  /** Checkpoints covering records of this batch or earlier ones. */
  readonly checkpoints: readonly CheckpointRecord[];
}

/** Where a batch became durable: the store itself, or the local spool while the store is down. */
export type Durable = "store" | "spool";

export interface AuditSink {
  readonly kind: "jsonl" | "postgres";
  /** True while records wait in the local spool (PostgreSQL store). */
  readonly spooling: boolean;
  /**
   * Persists the batch, in order after the previous one, and resolves once it may be
   * acknowledged per the configured durability (sync-policy.ts). Rejects when the batch could not
   * be written anywhere; nothing of it was then kept.
   */
  write(batch: PersistBatch): Promise<Durable>;
  /** Makes everything written so far durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Sink events for metrics and logs; the sink calls these, the gateway wires them. */
export interface SinkObserver {
  /** Only on a change of state, so an outage logs one line, not one per record. */
  stateChanged(up: boolean, reason?: string): void;
  spooled?(records: number): void;
  shipped?(records: number): void;
}

export function batchLines(lines: readonly string[]): Buffer {
  return Buffer.from(lines.length === 0 ? "" : `${lines.join("\n")}\n`, "utf8");
}
