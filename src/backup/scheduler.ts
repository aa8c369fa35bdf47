/**
 * `bulwark backup --schedule "<cron>"`: a long-lived process that takes a backup at each
 * scheduled time (UTC), prunes after each success when retention rules are set, logs every run
 * as one JSON line, and counts runs in Prometheus metrics. Runs never overlap: the next time is
 * computed when a run ends, so a run that overruns skips the times it missed (as systemd timers
 * without Persistent=). A failed run is logged and counted; the schedule goes on. A prune that
 * meets a running rekey is skipped for that run (the backup still counts as a success).
 */
import { createServer, type Server } from "node:http";
import client, { type Counter, type Gauge, Registry } from "prom-client";
import type { AuditTrail } from "../audit/trail.js";
import { isBulwarkError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { CronSchedule } from "./cron.js";
import type { Manifest } from "./manifest.js";
import type { PrunePlan } from "./prune.js";
import { backupRunEvent } from "./run-audit.js";

export class BackupMetrics {
  readonly registry = new Registry();
  readonly runs: Counter<"result">;
  readonly lastSuccess: Gauge;
  readonly lastDuration: Gauge;
  readonly lastSize: Gauge;
  readonly nextRun: Gauge;
  readonly pruned: Counter;

  constructor() {
    const registers = [this.registry];
    this.runs = new client.Counter({
      name: "bulwark_backup_runs_total",
      help: "Scheduled backup runs, by result (success, failure)",
      labelNames: ["result"],
      registers,
    });
    this.lastSuccess = new client.Gauge({
      name: "bulwark_backup_last_success_timestamp_seconds",
      help: "When the last successful backup finished (alert when it is older than the schedule allows)",
      registers,
    });
    this.lastDuration = new client.Gauge({
      name: "bulwark_backup_last_duration_seconds",
      help: "Duration of the last successful backup",
      registers,
    });
    this.lastSize = new client.Gauge({
      name: "bulwark_backup_last_size_bytes",
      help: "Size of the last successful backup",
      registers,
    });
    this.nextRun = new client.Gauge({
      name: "bulwark_backup_next_run_timestamp_seconds",
      help: "When the next backup is due",
      registers,
    });
    this.pruned = new client.Counter({
      name: "bulwark_backup_pruned_total",
      help: "Backups removed by retention",
      registers,
    });
    this.runs.labels("success").inc(0);
    this.runs.labels("failure").inc(0);
  }
}

/** Serves GET /metrics on host:port; resolves with the bound address. */
export async function serveMetrics(
  metrics: BackupMetrics,
  host: string,
  port: number,
): Promise<{ server: Server; address: string }> {
  const server = createServer((request, response) => {
    if (request.method !== "GET" || request.url !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (body) => response.writeHead(200, { "content-type": metrics.registry.contentType }).end(body),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as { address: string; port: number };
  return { server, address: `${bound.address}:${bound.port}` };
}

export interface ScheduleOptions {
  readonly schedule: CronSchedule;
  readonly backup: (signal: AbortSignal) => Promise<Manifest>;
  readonly prune?: (() => Promise<PrunePlan>) | undefined;
  readonly logger: Logger;
  readonly metrics: BackupMetrics;
  /** Aborting stops the schedule; a running backup is interrupted (and removed). */
  readonly signal: AbortSignal;
  /** With an audit trail, each run is also an `admin.backup.run` record. */
  readonly audit?: AuditTrail | undefined;
}

function sleepUntil(time: Date, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, time.getTime() - Date.now()));
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Retention after a successful run. A rekey holding the repository lock (backup_rekey_busy) skips
 * this run's prune with one log line: the backup is made, and the next run prunes.
 */
async function applyRetention(
  prune: () => Promise<PrunePlan>,
  logger: Logger,
  metrics: BackupMetrics,
): Promise<void> {
  let plan: PrunePlan;
  try {
    plan = await prune();
  } catch (error) {
    if (!isBulwarkError(error) || error.code !== "backup_rekey_busy") throw error;
    logger.warn(
      { event: "prune", result: "skipped", code: error.code },
      `retention skipped this run, retried at the next: ${error.message}`,
    );
    return;
  }
  const removed = [...plan.decision.remove, ...plan.abandoned];
  metrics.pruned.inc(removed.length);
  logger.info({ event: "prune", removed, kept: plan.decision.keep.length }, "retention applied");
}

/** Runs until the signal aborts; returns whether a backup was interrupted. */
export async function runSchedule(options: ScheduleOptions): Promise<{ interrupted: boolean }> {
  const { logger, metrics, signal } = options;
  // Durable before the next run starts; an audit store that fails is logged, and the backups go on.
  const audit = async (outcome: "success" | "failure", id: string | null, reason?: string) => {
    if (!options.audit) return;
    try {
      await options.audit.recordDurable(backupRunEvent({ outcome, id, ...(reason ? { reason } : {}) }));
    } catch (error) {
      logger.warn(
        { event: "audit", code: isBulwarkError(error) ? error.code : "internal" },
        `backup run not recorded in the audit trail: ${(error as Error).message}`,
      );
    }
  };
  logger.info({ schedule: options.schedule.source }, "backup schedule started");
  for (;;) {
    const next = options.schedule.next(new Date());
    metrics.nextRun.set(next.getTime() / 1000);
    logger.info({ next: next.toISOString() }, "next backup scheduled");
    await sleepUntil(next, signal);
    if (signal.aborted) break;
    const started = performance.now();
    let backupId: string | null = null;
    try {
      const manifest = await options.backup(signal);
      const durationMs = Math.round(performance.now() - started);
      metrics.runs.labels("success").inc();
      metrics.lastSuccess.set(Date.now() / 1000);
      metrics.lastDuration.set(durationMs / 1000);
      metrics.lastSize.set(manifest.size);
      logger.info(
        {
          event: "backup",
          result: "success",
          id: manifest.id,
          database: manifest.database,
          snapshotTakenAt: manifest.snapshot.takenAt,
          sizeBytes: manifest.size,
          tables: manifest.tables.length,
          rows: manifest.tables.reduce((sum, table) => sum + table.rows, 0),
          durationMs,
        },
        "backup complete",
      );
      backupId = manifest.id;
      if (options.prune) await applyRetention(options.prune, logger, metrics);
      await audit("success", manifest.id);
    } catch (error) {
      if (signal.aborted) {
        logger.warn(
          { event: "backup", result: "interrupted" },
          "backup interrupted; the partial backup was removed",
        );
        await audit("failure", null, "backup_interrupted");
        return { interrupted: true };
      }
      metrics.runs.labels("failure").inc();
      logger.error(
        {
          event: "backup",
          result: "failure",
          code: isBulwarkError(error) ? error.code : "internal",
          durationMs: Math.round(performance.now() - started),
        },
        `backup failed: ${(error as Error).message}`,
      );
      // One record per run: a backup whose retention failed is a failed run, naming the backup.
      await audit("failure", backupId, isBulwarkError(error) ? error.code : "internal");
    }
  }
  logger.info("backup schedule stopped");
  return { interrupted: false };
}
