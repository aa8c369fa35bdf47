/**
 * A drill's evidence: the JSON report (kind "drill", version 1, read by `bulwark check` from the
 * evidence folder) and a Markdown copy for people (auditors, incident reviews), written side by
 * side and atomically.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurable } from "../durable-file.js";
import { type DrillReport, formatMs } from "./drill.js";

function objectiveText(objective: DrillReport["rto"]): string {
  if (objective.objectiveMs === null) return `${formatMs(objective.measuredMs)} (no objective set)`;
  return `${formatMs(objective.measuredMs)} against ${formatMs(objective.objectiveMs)}: ${objective.met ? "met" : "MISSED"}`;
}

export function renderMarkdown(report: DrillReport): string {
  const lines = [
    `# Restore drill ${report.ok ? "passed" : "FAILED"}: backup ${report.backup.id}`,
    "",
    `- started ${report.startedAt}, finished ${report.finishedAt}, bulwark ${report.tool.version}`,
    `- backup of database \`${report.backup.database}\`, snapshot ${report.backup.snapshotTakenAt}, ${report.backup.size} bytes, key ${report.backup.keyId}, ${report.backup.format === "split" ? `split into ${report.backup.artifacts} artifacts, restored by ${report.restoreJobs} pg_restore processes at once` : "one artifact"}`,
    `- repository ${report.backup.repository}; restored on ${report.server} into scratch database \`${report.scratchDatabase}\` (${report.scratchDropped ? "dropped" : "NOT dropped"})`,
    "",
    "## Objectives",
    "",
    `- RTO ${objectiveText(report.rto)}`,
    `- RPO ${objectiveText(report.rpo)}, measured to ${report.rpo.reference === "incident" ? "the incident" : "the drill"} at ${report.rpo.referenceTime}`,
    ...(report.rpo.archive
      ? [
          `- WAL archive: newest ${report.rpo.archive.newestWal}, archived ${report.rpo.archive.archivedAt}, ${formatMs(report.rpo.archive.lagMs)} before the reference (the RPO point-in-time recovery could reach; not drilled)`,
        ]
      : []),
    "",
    "| phase | duration |",
    "| --- | --- |",
    `| fetch (read, size and SHA-256) | ${formatMs(report.phases.fetchMs)} |`,
    `| decrypt (authenticate every chunk) | ${formatMs(report.phases.decryptMs)} |`,
    `| restore (decrypt, pg_restore incl. decompression) | ${formatMs(report.phases.restoreMs)} |`,
    `| verify (row counts, checksums, assertions) | ${formatMs(report.phases.verifyMs)} |`,
    "",
    "## Tables",
    "",
    "| table | rows in manifest | rows restored | checksum | result |",
    "| --- | ---: | ---: | --- | --- |",
    ...report.tables.map(
      (table) =>
        `| ${table.schema}.${table.name} | ${table.expectedRows ?? "—"} | ${table.restoredRows ?? "—"} | ${table.checksumMatches ? "matches" : "differs"} | ${table.ok ? "ok" : "FAILED"} |`,
    ),
  ];
  if (report.tables.length === 0) lines.push("| (none checked) | | | | |");
  if (report.assertions.length > 0) {
    lines.push("", "## Assertions", "");
    for (const assertion of report.assertions) {
      lines.push(
        `- ${assertion.ok ? "ok" : "FAILED"}: \`${assertion.sql.replace(/`/g, "'")}\` (${assertion.detail})`,
      );
    }
  }
  if (report.failures.length > 0) {
    lines.push("", "## Failures", "", ...report.failures.map((failure) => `- ${failure}`));
  }
  return `${lines.join("\n")}\n`;
}

/** A short human summary for the terminal. */
export function renderSummary(report: DrillReport): string {
  const tablesOk = report.tables.filter((table) => table.ok).length;
  const lines = [
    `drill ${report.ok ? "passed" : "FAILED"}: backup ${report.backup.id} of ${report.backup.database}`,
    `  phases    fetch ${formatMs(report.phases.fetchMs)}, decrypt ${formatMs(report.phases.decryptMs)}, restore ${formatMs(report.phases.restoreMs)}, verify ${formatMs(report.phases.verifyMs)}`,
    `  RTO       ${objectiveText(report.rto)}`,
    `  RPO       ${objectiveText(report.rpo)}`,
    ...(report.rpo.archive
      ? [
          `  WAL lag   ${formatMs(report.rpo.archive.lagMs)} (newest archived ${report.rpo.archive.newestWal}; not drilled)`,
        ]
      : []),
    `  tables    ${tablesOk}/${report.tables.length} match the manifest`,
    `  asserts   ${report.assertions.filter((a) => a.ok).length}/${report.assertions.length} passed`,
    ...report.failures.map((failure) => `  failure   ${failure}`),
  ];
  return lines.join("\n");
}

/** Writes drill-<startedAt>.json and .md into the folder; returns the two paths. */
export function writeEvidence(dir: string, report: DrillReport): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `drill-${report.startedAt.replace(/[:.]/g, "-")}`);
  const json = `${base}.json`;
  const markdown = `${base}.md`;
  writeFileDurable(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileDurable(markdown, renderMarkdown(report));
  return { json, markdown };
}
