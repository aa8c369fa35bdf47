/**
 * Scheduled backup runs in the audit trail: when the config file given with `-c` has an `audit:`
 * section, `bulwark backup --schedule` writes one `admin.backup.run` record per run (outcome,
 * backup id, error code), as `bulwark keys` writes `admin.apikey.*`. Audit events are a fixed
 * set of fields (src/audit/event.ts) with no free-form ones, so a run's duration and repository
 * are in its JSON log line and metrics, not in the record (a long path or an s3:// URL would
 * also trip the event's credential-shape check); the record's time is the run's end.
 */
import { userInfo } from "node:os";
import type { AuditEvent } from "../audit/event.js";
import { auditSchema, resolveAuditConfig } from "../audit/schema.js";
import { type AuditTrail, createAuditTrail } from "../audit/trail.js";
import { loadConfigSection, readConfigDocument } from "../config/section.js";

export const BACKUP_RUN_ACTION = "admin.backup.run";
/** The record's `resource.route`: which Bulwark operation it was. */
export const BACKUP_RUN_ROUTE = "backup-schedule";

/** The audit trail of `-c FILE`, or undefined when there is no file or no `audit:` section. */
export function openRunAudit(configFile: string | undefined): AuditTrail | undefined {
  if (configFile === undefined) return undefined;
  const document = readConfigDocument(configFile);
  const section = loadConfigSection(document, ["audit"], auditSchema);
  return section && createAuditTrail(resolveAuditConfig(section.value, section.baseDir));
}

function operator(): string | null {
  try {
    return `os:${userInfo().username}`;
  } catch {
    // No user database entry (some containers): the record says who by its absence.
    return null;
  }
}

export function backupRunEvent(run: {
  readonly outcome: "success" | "failure";
  readonly id: string | null;
  /** The error code of a failed run. */
  readonly reason?: string;
}): AuditEvent {
  return {
    action: BACKUP_RUN_ACTION,
    outcome: run.outcome,
    subject: operator(),
    resource: { route: BACKUP_RUN_ROUTE, id: run.id },
    ...(run.reason ? { reason: run.reason } : {}),
  };
}
