/**
 * How a split backup (`bulwark backup --jobs N`) divides a database between N pg_dumps running
 * at once in the same snapshot: one dumps everything except the data of the "big" tables
 * (`schema.bwenc`), the others the data of groups of big tables (`data-0001.bwenc` …).
 *
 * Balancing is greedy longest-processing-time-first (Graham, "Bounds on multiprocessing timing
 * anomalies", 1969: within 4/3 of the best split): the tables, largest first, each go to the
 * stream with the least bytes so far, where the schema stream starts with the bytes of all the
 * tables it keeps anyway. A table is a candidate for its own stream when it holds at least
 * `minTableBytes` (pg_table_size: heap and TOAST, what COPY reads): smaller tables are not worth a
 * `--table` argument and stay with the schema. The bound on candidates keeps pg_dump's argv short
 * on databases with thousands of tables; the rest stay with the schema.
 */

export interface SizedTable {
  readonly schema: string;
  readonly name: string;
  readonly bytes: number;
}

export interface SplitPart {
  readonly tableBytes: number;
  readonly tables: readonly { readonly schema: string; readonly name: string }[];
}

export interface SplitPlan {
  /** Bytes of the tables whose data stays in the schema artifact. */
  readonly schemaBytes: number;
  /** Groups of big tables, each one data artifact (at most jobs - 1, none empty). */
  readonly parts: readonly SplitPart[];
}

/** 1 MiB: below this, a table's own pg_dump costs more (connection, catalog reads) than it saves. */
export const MIN_SPLIT_TABLE_BYTES = 1024 * 1024;
/** Candidate tables per job, largest first. */
export const MAX_SPLIT_TABLES_PER_JOB = 256;

export function planSplit(
  tables: readonly SizedTable[],
  jobs: number,
  minTableBytes = MIN_SPLIT_TABLE_BYTES,
): SplitPlan {
  const ordered = [...tables].sort(
    (a, b) => b.bytes - a.bytes || a.schema.localeCompare(b.schema) || a.name.localeCompare(b.name),
  );
  const limit = jobs * MAX_SPLIT_TABLES_PER_JOB;
  const candidates = ordered.filter((table, index) => table.bytes >= minTableBytes && index < limit);
  const kept = new Set(candidates);
  let schemaBytes = 0;
  for (const table of ordered) if (!kept.has(table)) schemaBytes += table.bytes;
  // Bin 0 is the schema stream; bins 1..jobs-1 become data artifacts.
  const bins = Array.from({ length: jobs }, (_, index) => ({
    bytes: index === 0 ? schemaBytes : 0,
    tables: [] as SizedTable[],
  }));
  for (const table of candidates) {
    let best = 1 % jobs;
    // Ties go to a data stream (lowest index), then to the schema stream.
    for (let index = 1; index < jobs; index++) if (bins[index]!.bytes < bins[best]!.bytes) best = index;
    if (bins[0]!.bytes < bins[best]!.bytes) best = 0;
    bins[best]!.bytes += table.bytes;
    bins[best]!.tables.push(table);
  }
  return {
    schemaBytes: bins[0]!.bytes,
    parts: bins
      .slice(1)
      .filter((bin) => bin.tables.length > 0)
      .map((bin) => ({
        tableBytes: bin.bytes,
        tables: bin.tables.map(({ schema, name }) => ({ schema, name })),
      })),
  };
}

/**
 * A pg_dump table pattern matching exactly one table: both parts double-quoted, a `"` inside
 * doubled. Inside double quotes pg_dump takes `.`, `*`, `?` and capitals literally (psql's
 * "Patterns", which pg_dump's -t and --exclude-table-data follow).
 */
export function exactTablePattern(table: { readonly schema: string; readonly name: string }): string {
  const quote = (part: string) => `"${part.replace(/"/g, '""')}"`;
  return `${quote(table.schema)}.${quote(table.name)}`;
}
