/**
 * Per-table row counts and content checksums, computed the same way at backup time (inside the
 * dump's snapshot) and after a restore, so a drill can prove the restored data is the backed-up
 * data.
 *
 * A row's hash is the XOR of its columns' hashes, each column hashed by its type's extended hash
 * function seeded with the column's position (so equal values in two columns do not cancel out
 * and swapped columns change the hash); a table's checksum is the sum of its rows' hashes, so
 * it does not depend on row order, which a restore does not keep. These hash functions are the
 * ones hash partitioning stores rows by, so PostgreSQL keeps them stable across versions and
 * platforms (pg_upgrade depends on it). Types without a listed function are hashed through
 * their text form, under fixed DateStyle, IntervalStyle, extra_float_digits, TimeZone and
 * bytea_output. Hashing columns directly costs about a third of hashing the whole row as a
 * record (which builds a row value per row), and the backup waits for these checksums. A
 * fingerprint against loss, not a cryptographic one: the artifact itself is protected by
 * AES-GCM and SHA-256.
 */
import type pg from "pg";

export const CHECKSUM_ALGORITHM = "sum-xor-column-hash-v1";

export type ChecksumMethod = "columns";

export interface TableStats {
  readonly schema: string;
  readonly name: string;
  readonly rows: number;
  /** Decimal string: a sum of 64-bit values does not fit a JSON number. */
  readonly checksum: string;
  readonly method: ChecksumMethod;
}

/**
 * Session settings that fix the text form of values (dates, intervals, floats, bytea), so the
 * same value gives the same text on the backup and the restore side.
 */
const TEXT_FORM_SETTINGS = [
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  "set local extra_float_digits = 3",
  "set local timezone = 'UTC'",
  "set local bytea_output = 'hex'",
];

/** Ordinary tables whose data pg_dump dumps: not system, not temporary, not owned by an extension. */
const TABLES = `
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'r'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  and not exists (
    select 1 from pg_depend d
    where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
order by 1, 2`;
const LIST_TABLES = `select n.nspname as schema, c.relname as name ${TABLES}`;
/** Heap and TOAST bytes (pg_table_size, no indexes): what pg_dump's COPY of the table reads. */
const TABLE_SIZES = `select n.nspname as schema, c.relname as name, pg_table_size(c.oid)::float8 as bytes ${TABLES}`;

/** Live columns in order, with the base type of domains. */
const LIST_COLUMNS = `
select a.attname as name, coalesce(base.typname, t.typname) as type
from pg_attribute a
join pg_type t on t.oid = a.atttypid
left join pg_type base on t.typtype = 'd' and base.oid = t.typbasetype
where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
order by a.attnum`;

/** The extended hash function (hash opclass support function 2) of common types; $c column, $s seed. */
const TYPE_HASH: Readonly<Record<string, string>> = {
  int2: "hashint2extended($c, $s)",
  int4: "hashint4extended($c, $s)",
  int8: "hashint8extended($c, $s)",
  bool: "hashint4extended($c::int4, $s)",
  float4: "hashfloat4extended($c, $s)",
  float8: "hashfloat8extended($c, $s)",
  numeric: "hash_numeric_extended($c, $s)",
  text: "hashtextextended($c, $s)",
  varchar: "hashtextextended($c::text, $s)",
  bpchar: "hashbpcharextended($c, $s)",
  uuid: "uuid_hash_extended($c, $s)",
  timestamp: "timestamp_hash_extended($c, $s)",
  timestamptz: "timestamp_hash_extended($c::timestamp, $s)",
  jsonb: "jsonb_hash_extended($c, $s)",
};
const TEXT_HASH = "hashtextextended($c::text, $s)";

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export async function listTables(client: pg.Client): Promise<{ schema: string; name: string }[]> {
  return (await client.query<{ schema: string; name: string }>(LIST_TABLES)).rows;
}

/** The tables of listTables with their size, for balancing a split backup (split-plan.ts). */
export async function tableSizes(
  client: pg.Client,
): Promise<{ schema: string; name: string; bytes: number }[]> {
  return (await client.query<{ schema: string; name: string; bytes: number }>(TABLE_SIZES)).rows;
}

/** Must run inside a transaction (the settings are SET LOCAL). */
export async function applyTextFormSettings(client: pg.Client): Promise<void> {
  for (const statement of TEXT_FORM_SETTINGS) await client.query(statement);
}

/** The per-row hash expression of a table (exported for tests). */
export function rowHashExpression(columns: readonly { name: string; type: string }[]): string {
  if (columns.length === 0) return "0::int8";
  return columns
    .map((column, index) => {
      const seed = `${index + 1}::int8`;
      const reference = `r.${quoteIdent(column.name)}`;
      // One pass with a function replacer: a "$" in a column name is neither a replacement
      // pattern nor a placeholder to substitute again.
      const hash = (TYPE_HASH[column.type] ?? TEXT_HASH).replace(/\$([cs])/g, (_match, slot: string) =>
        slot === "c" ? reference : seed,
      );
      // Hash functions are strict: a NULL gets a fixed per-position value instead of nulling the row.
      return `coalesce(${hash}, ${-(index + 1) * 7919})`;
    })
    .join(" # ");
}

/** A table's row count and checksum; runs inside the caller's transaction and snapshot. */
export async function tableStats(
  client: pg.Client,
  table: { schema: string; name: string },
): Promise<TableStats> {
  const relation = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
  const columns = (await client.query<{ name: string; type: string }>(LIST_COLUMNS, [relation])).rows;
  const result = await client.query<{ rows: string; checksum: string }>(
    `select count(*)::text as rows, coalesce(sum(${rowHashExpression(columns)}), 0)::text as checksum from ${relation} as r`,
  );
  const row = result.rows[0]!;
  return {
    schema: table.schema,
    name: table.name,
    rows: Number(row.rows),
    checksum: row.checksum,
    method: "columns",
  };
}

/** Stats of every table, one after the other (the caller's transaction fixes the snapshot). */
export async function allTableStats(client: pg.Client): Promise<TableStats[]> {
  await applyTextFormSettings(client);
  const out: TableStats[] = [];
  for (const table of await listTables(client)) out.push(await tableStats(client, table));
  return out;
}
