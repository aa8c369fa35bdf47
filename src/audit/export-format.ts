/**
 * Output formats of `bulwark audit query` and `export`: a fixed column list for tables and CSV
 * (RFC 4180 quoting), and the stored lines for JSONL.
 */
import { type ChainRecord, recordLine } from "./record.js";

export const COLUMNS = [
  "time",
  "action",
  "outcome",
  "subject",
  "method",
  "route",
  "id",
  "status",
  "clientIp",
  "requestId",
  "traceId",
  "reason",
  "writer",
  "seq",
] as const;

export function recordRow(record: ChainRecord): Record<(typeof COLUMNS)[number], string> {
  const event = record.kind === "event" ? record : undefined;
  return {
    time: record.time,
    action: event?.action ?? `audit.${record.kind}`,
    outcome: event?.outcome ?? "error",
    subject: event?.subject ?? "",
    method: event?.method ?? "",
    route: event?.resource?.route ?? "",
    id: event?.resource?.id ?? (record.kind === "dropped" ? `${record.count} lost` : ""),
    status: event?.status === null || event?.status === undefined ? "" : String(event.status),
    clientIp: event?.clientIp ?? "",
    requestId: event?.requestId ?? "",
    traceId: event?.traceId ?? "",
    reason: event?.reason ?? "",
    writer: record.writer,
    seq: String(record.seq),
  };
}

function csvCell(value: string): string {
  // A cell starting with = + - @ (or tab/CR) is a formula to spreadsheet programs (OWASP "CSV
  // injection"); a leading quote keeps it text. Subjects and routes come from outside.
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvHeader(): string {
  return `${COLUMNS.join(",")}\r\n`;
}

export function csvLine(record: ChainRecord): string {
  const row = recordRow(record);
  return `${COLUMNS.map((column) => csvCell(row[column])).join(",")}\r\n`;
}

export function jsonlLine(record: ChainRecord): string {
  return `${recordLine(record)}\n`;
}

/** A plain-text table with padded columns; control characters are escaped. */
export function formatTable(
  records: readonly ChainRecord[],
  columns: readonly (typeof COLUMNS)[number][],
): string {
  const rows = records.map((record) => {
    const row = recordRow(record);
    return columns.map((column) => row[column].replace(/[\u0000-\u001f\u007f]/g, "?"));
  });
  const widths = columns.map((column, index) =>
    Math.max(column.length, ...rows.map((row) => row[index]!.length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, index) => cell.padEnd(widths[index]!))
      .join("  ")
      .trimEnd();
  return [line(columns), ...rows.map(line)].join("\n");
}
