/**
 * Automatic retention by age (`audit.retention`): the gateway prunes its own audit store, so no
 * timer outside it is needed. Only one process per gateway does it (the primary with `workers`,
 * else the single process): a first pass 5 s after start (a short delay, so start-up is not slowed
 * and a crash loop does not hammer the store), then every `every`. Each pass is what `bulwark audit prune --older-than MAXAGE` does (prune.ts):
 * whole segments or rows from the start of each chain, a signed prune record first, under the
 * store's prune lock — so a pass that meets a manual prune, or another host's pass on a shared
 * PostgreSQL table, skips this round instead of racing it.
 *
 * A pass never throws: failures are logged (one line) and retried at the next interval; the
 * records stay, which is the safe side of a retention failure.
 */
import type { Logger } from "pino";
import { isBulwarkError } from "../errors.js";
import { type PruneResult, pruneDirectory, prunePostgres } from "./prune.js";
import type { AuditConfig } from "./schema.js";
import { loadSigningKey } from "./signing.js";
import { withPostgres } from "./sources.js";

const FIRST_PASS_MS = 5000;

export interface AuditRetention {
  /** Runs one pass now (also what the timer runs); resolves with what was pruned. */
  runOnce(): Promise<readonly PruneResult[]>;
  /** Stops the timer and waits for a running pass. */
  stop(): Promise<void>;
}

export interface RetentionOptions {
  readonly log: Logger;
  /** Delay before the first pass, in milliseconds (default 5 s). */
  readonly firstPassAfter?: number;
  readonly now?: () => number;
}

/** Starts the timer when `audit.retention` is set; undefined otherwise. */
export function startAuditRetention(
  audit: AuditConfig,
  options: RetentionOptions,
): AuditRetention | undefined {
  const retention = audit.retention;
  if (!retention) return undefined;
  const { log } = options;
  const now = options.now ?? Date.now;
  const store = audit.store;
  let running: Promise<readonly PruneResult[]> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const pass = async (): Promise<readonly PruneResult[]> => {
    const cutoff = new Date(now() - retention.maxAge);
    try {
      // Read at every pass: a rotated key file is picked up without a restart.
      const key = loadSigningKey(audit.signingKey);
      const results =
        store.type === "jsonl"
          ? await pruneDirectory(store.dir, cutoff, key)
          : await withPostgres(store.url, (client) => prunePostgres(client, store.table, cutoff, key));
      for (const result of results) {
        log.info(
          {
            writer: result.writer,
            records: result.records,
            segments: result.segments.length,
            keptFrom: result.keptFrom,
            olderThan: cutoff.toISOString(),
          },
          "audit retention pruned old records",
        );
      }
      return results;
    } catch (error) {
      if (isBulwarkError(error) && error.code === "audit_prune_busy") {
        log.info({ reason: error.message }, "audit retention skipped this pass: another prune is running");
      } else {
        log.error(
          {
            error: error instanceof Error ? error.message : String(error),
            code: isBulwarkError(error) ? error.code : undefined,
          },
          "audit retention pass failed; records are kept and the pass is retried at the next interval",
        );
      }
      return [];
    }
  };

  const runOnce = (): Promise<readonly PruneResult[]> => {
    // Passes never overlap: a slow pass (a large table) makes the next tick wait for it.
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().then(() => schedule(retention.every));
    }, delay);
    timer.unref();
  };
  schedule(options.firstPassAfter ?? FIRST_PASS_MS);

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
