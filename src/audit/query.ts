/**
 * Reading records back for `bulwark audit query` and `export`: filters, and record streams from
 * a JSONL directory or PostgreSQL. Lines that do not parse are skipped here; telling why is
 * verify's job.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type pg from "pg";
import type { AUDIT_OUTCOMES } from "./event.js";
import { listDirectory } from "./layout.js";
import { auditTables } from "./postgres-store.js";
import { type ChainRecord, chainRecordProblem } from "./record.js";

export interface AuditFilter {
  readonly subject?: string;
  /** Exact action, or a prefix ending in "*" ("admin.*"). */
  readonly action?: string;
  readonly outcome?: (typeof AUDIT_OUTCOMES)[number];
  /** Route template, exact. */
  readonly route?: string;
  readonly since?: Date;
  readonly until?: Date;
}

export function matchesFilter(record: ChainRecord, filter: AuditFilter): boolean {
  const time = Date.parse(record.time);
  if (filter.since && !(time >= filter.since.getTime())) return false;
  if (filter.until && !(time < filter.until.getTime())) return false;
  const wantsEventField =
    filter.subject !== undefined ||
    filter.action !== undefined ||
    filter.outcome !== undefined ||
    filter.route !== undefined;
  if (record.kind !== "event") return !wantsEventField || filter.action === "audit.dropped";
  if (filter.subject !== undefined && record.subject !== filter.subject) return false;
  if (filter.outcome !== undefined && record.outcome !== filter.outcome) return false;
  if (filter.route !== undefined && record.resource?.route !== filter.route) return false;
  if (filter.action !== undefined) {
    if (filter.action.endsWith("*")) {
      if (!record.action.startsWith(filter.action.slice(0, -1))) return false;
    } else if (record.action !== filter.action) return false;
  }
  return true;
}

/** Every record of the directory: writer by writer, each in chain order. */
export async function* readDirectoryRecords(dir: string): AsyncGenerator<ChainRecord> {
  for (const segments of listDirectory(dir).segments.values()) {
    for (const segment of segments) {
      const lines = createInterface({
        input: createReadStream(segment.path, "utf8"),
        crlfDelay: Number.POSITIVE_INFINITY,
      });
      for await (const line of lines) {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          continue;
        }
        if (chainRecordProblem(value) === undefined) yield value as ChainRecord;
      }
    }
  }
}

const PAGE = 1000;

/** Matching records from PostgreSQL in (time, writer, seq) order, a page at a time. */
export async function* readPostgresRecords(
  client: pg.ClientBase,
  table: string,
  filter: AuditFilter,
): AsyncGenerator<ChainRecord> {
  const { records } = auditTables(table);
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    values.push(value);
    where.push(sql.replace("?", `$${values.length}`));
  };
  if (filter.subject !== undefined) add("subject = ?", filter.subject);
  if (filter.outcome !== undefined) add("outcome = ?", filter.outcome);
  if (filter.route !== undefined) add("route = ?", filter.route);
  if (filter.action !== undefined) {
    if (filter.action.endsWith("*")) add("starts_with(action, ?)", filter.action.slice(0, -1));
    else add("action = ?", filter.action);
  }
  if (filter.since) add("time >= ?", filter.since.toISOString());
  if (filter.until) add("time < ?", filter.until.toISOString());
  let after: { time: string; writer: string; seq: string } | undefined;
  for (;;) {
    const page = [...where];
    const pageValues = [...values];
    if (after) {
      pageValues.push(after.time, after.writer, after.seq);
      const n = pageValues.length;
      page.push(`(time, writer, seq) > ($${n - 2}::timestamptz, $${n - 1}, $${n}::bigint)`);
    }
    const result = await client.query<{ time: Date; writer: string; seq: string; line: string }>(
      `select time, writer, seq, line from ${records} ${page.length > 0 ? `where ${page.join(" and ")}` : ""}
       order by time, writer, seq limit ${PAGE}`,
      pageValues,
    );
    for (const row of result.rows) {
      let value: unknown;
      try {
        value = JSON.parse(row.line);
      } catch {
        continue;
      }
      if (chainRecordProblem(value) === undefined) yield value as ChainRecord;
    }
    const last = result.rows[result.rows.length - 1];
    if (!last || result.rows.length < PAGE) return;
    after = { time: last.time.toISOString(), writer: last.writer, seq: last.seq };
  }
}
