/**
 * Where verify, query, export and prune read records from: a JSONL directory (the embedded store)
 * or the PostgreSQL store's tables.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import pg from "pg";
import { BulwarkError } from "../errors.js";
import { listDirectory } from "./layout.js";
import { auditTables } from "./postgres-store.js";
import { isHash, isWriterId } from "./record.js";
import type { CheckpointAnchor, SourceLine, VerifyInput } from "./verify.js";

function splitLines(file: string, text: string): SourceLine[] {
  const parts = text.split("\n");
  const complete = parts[parts.length - 1] === "";
  if (complete) parts.pop();
  return parts.map((part, index) => ({
    at: { file, line: index + 1 },
    text: part,
    complete: complete || index < parts.length - 1,
  }));
}

export function requireAuditDirectory(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new BulwarkError(
      "usage",
      `${dir} is not a directory; give the audit store's dir (audit.store.dir)`,
    );
  }
}

export function readDirectoryForVerify(dir: string): VerifyInput {
  requireAuditDirectory(dir);
  const listing = listDirectory(dir);
  if (listing.segments.size === 0 && listing.checkpoints.size === 0) {
    throw new BulwarkError(
      "usage",
      `${dir} holds no audit files (seg-*.jsonl, ckp-*.jsonl); is it the audit store's dir?`,
    );
  }
  const chains = new Map<string, SourceLine[]>();
  for (const [writer, segments] of listing.segments) {
    const lines: SourceLine[] = [];
    segments.forEach((segment, index) => {
      const split = splitLines(segment.name, readFileSync(segment.path, "utf8"));
      // Only the chain's very last line may be torn; one inside the chain is an alteration.
      const isLast = index === segments.length - 1;
      for (const line of split) lines.push(isLast ? line : { ...line, complete: true });
    });
    chains.set(writer, lines);
  }
  const signed: SourceLine[] = [];
  for (const path of [...listing.checkpoints.values(), ...(listing.pruneFile ? [listing.pruneFile] : [])]) {
    signed.push(...splitLines(basename(path), readFileSync(path, "utf8")));
  }
  return { chains, signed };
}

export async function withPostgres<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A server going away mid-command is reported by the failing query; the event must not crash.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new BulwarkError(
      "audit_store_failed",
      `cannot connect to postgres (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function readPostgresForVerify(client: pg.ClientBase, table: string): Promise<VerifyInput> {
  const tables = auditTables(table);
  const chains = new Map<string, SourceLine[]>();
  const rows = await client.query<{ writer: string; seq: string; line: string }>(
    `select writer, seq, line from ${tables.records} order by writer, seq`,
  );
  for (const row of rows.rows) {
    const list = chains.get(row.writer) ?? [];
    list.push({
      at: { file: `${table}[${row.writer}]`, line: Number(row.seq) },
      text: row.line,
      complete: true,
    });
    chains.set(row.writer, list);
  }
  const signedRows = await client.query<{ writer: string; kind: string; seq: string; line: string }>(
    `select writer, kind, seq, line from ${tables.signed} order by writer, kind, seq`,
  );
  const signed = signedRows.rows.map((row) => ({
    at: { file: `${table}_checkpoints[${row.writer} ${row.kind}]`, line: Number(row.seq) },
    text: row.line,
    complete: true,
  }));
  return { chains, signed };
}

/**
 * The checkpoints a gateway logged (`"msg":"audit checkpoint"` JSON lines with `auditWriter`,
 * `seq` and `hash`); other lines of the log are skipped.
 */
export function readCheckpointLog(file: string): CheckpointAnchor[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new BulwarkError(
      "usage",
      `cannot read the log ${file} (${(error as NodeJS.ErrnoException).code ?? "error"}); give the gateway's JSON log`,
    );
  }
  const anchors: CheckpointAnchor[] = [];
  text.split("\n").forEach((line, index) => {
    if (!line.includes('"audit checkpoint"')) return;
    let value: { msg?: unknown; auditWriter?: unknown; seq?: unknown; hash?: unknown };
    try {
      value = JSON.parse(line);
    } catch {
      return;
    }
    if (
      value.msg === "audit checkpoint" &&
      isWriterId(value.auditWriter) &&
      Number.isSafeInteger(value.seq) &&
      isHash(value.hash)
    ) {
      anchors.push({
        writer: value.auditWriter,
        seq: value.seq as number,
        hash: value.hash,
        at: { file: basename(file), line: index + 1 },
      });
    }
  });
  return anchors;
}
