/**
 * Human output of `bulwark backup rekey` (stderr): progress lines and the closing summary. The
 * machine-readable summary is the RekeyResult itself (`--format json`, kind "bulwark-rekey").
 */
import { formatBytes } from "./progress.js";
import type { RekeyProgress, RekeyResult, SectionResult } from "./rekey.js";

const PHASES: Record<RekeyProgress["phase"], string> = {
  wal: "archived WAL",
  base: "base backups",
  backups: "backups",
};

export function formatRekeyProgress(progress: RekeyProgress): string {
  return `  ${PHASES[progress.phase]} ${progress.done}/${progress.total}, ${formatBytes(progress.bytes)} re-encrypted`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function sectionLines(label: string, section: SectionResult, dryRun: boolean): string[] {
  const lines: string[] = [];
  if (dryRun)
    for (const { from, to } of section.converted) lines.push(`would re-encrypt ${label} ${from} (as ${to})`);
  const others = section.otherKeys.map((entry) => `${entry.id} (key ${entry.keyId})`);
  lines.push(
    `${label}s: ${section.converted.length} ${dryRun ? "to re-encrypt" : "re-encrypted"}, ${section.alreadyNew.length} already under the new key, ${others.length} under other keys (left alone)${section.failed.length > 0 ? `, ${section.failed.length} FAILED` : ""}${section.vanished.length > 0 ? `, ${section.vanished.length} removed meanwhile` : ""}`,
  );
  if (others.length > 0) lines.push(`  other keys: ${others.join(", ")}`);
  for (const failed of section.failed) lines.push(`  ${failed.id}: ${failed.code}: ${failed.message}`);
  return lines;
}

export function describeRekey(result: RekeyResult): string[] {
  const lines = [
    ...sectionLines("backup", result.backups, result.dryRun),
    ...sectionLines("base backup", result.base, result.dryRun),
  ];
  const walOthers = Object.entries(result.wal.otherKeys).map(
    ([keyId, count]) => `${count} under key ${keyId}`,
  );
  lines.push(
    `archived WAL: ${plural(result.wal.converted, "file")} ${result.dryRun ? "to re-encrypt" : "re-encrypted"}, ${result.wal.alreadyNew} already under the new key${walOthers.length > 0 ? `, ${walOthers.join(", ")} (left alone)` : ""}${result.wal.failed.length > 0 ? `, ${result.wal.failed.length} FAILED` : ""}`,
  );
  for (const failed of result.wal.failed) lines.push(`  ${failed.id}: ${failed.code}: ${failed.message}`);
  if (result.removedOrphans.length > 0) {
    lines.push(
      `${result.dryRun ? "would remove" : "removed"} ${result.removedOrphans.length} incomplete ${result.removedOrphans.length === 1 ? "copy" : "copies"} left by an interrupted rekey: ${result.removedOrphans.join(", ")}`,
    );
  }
  const left = result.remaining.backups + result.remaining.base + result.remaining.wal;
  if (result.dryRun) {
    lines.push(
      `dry run: nothing was changed (${formatBytes(result.bytes)} of backup artifacts to re-encrypt)`,
    );
  } else if (result.complete) {
    lines.push(
      `done: ${formatBytes(result.bytes)} re-encrypted; nothing in ${result.repository} is encrypted with key ${result.oldKeyId} any more`,
    );
  } else {
    lines.push(
      `${result.interrupted ? "interrupted" : "not finished"}: ${plural(left, "item")} still under key ${result.oldKeyId} (${result.remaining.backups} backups, ${result.remaining.base} base backups, ${result.remaining.wal} WAL files); each is whole and restorable with the old key — ${result.interrupted ? "run the same command again to finish" : "fix what failed (above), or switch backups and archive_command to the new key if they were made meanwhile, and run the same command again"}`,
    );
  }
  return lines;
}
