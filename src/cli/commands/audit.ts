/**
 * `bulwark audit`: keys, verification, queries, export and retention of the audit trail
 * (src/audit; docs/audit.md).
 */
import { existsSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { AppendFile, fsyncDirectory } from "../../audit/append-file.js";
import { AUDIT_OUTCOMES } from "../../audit/event.js";
import { COLUMNS, csvHeader, csvLine, formatTable, jsonlLine } from "../../audit/export-format.js";
import { type PruneResult, pruneDirectory, prunePostgres } from "../../audit/prune.js";
import {
  type AuditFilter,
  matchesFilter,
  readDirectoryRecords,
  readPostgresRecords,
} from "../../audit/query.js";
import type { ChainRecord } from "../../audit/record.js";
import { generateSigningKeyPair, loadSigningKey, loadVerifyingKey } from "../../audit/signing.js";
import {
  readCheckpointLog,
  readDirectoryForVerify,
  readPostgresForVerify,
  requireAuditDirectory,
  withPostgres,
} from "../../audit/sources.js";
import { parseTimeBound } from "../../audit/time-range.js";
import { type VerifyReport, verifyChains } from "../../audit/verify.js";
import { parseDuration } from "../../config/units.js";
import { writeFileDurable } from "../../durable-file.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark audit <subcommand> [options]

The tamper-evident audit trail (docs/audit.md).

subcommands:
  keygen --out FILE [--public-out FILE] [--force]
      write a new Ed25519 signing key (PEM, mode 0600) to FILE and its public key to
      FILE.pub (or --public-out); the public key is also printed on stdout
  verify [DIR] --public-key FILE [--public-key FILE …] [--postgres URL] [--table NAME]
         [--checkpoint-log FILE …] [--strict] [--format text|json]
      check every chain: names the first altered, removed, inserted or reordered record
      (file:line and seq) and a tail cut below a signed checkpoint. --checkpoint-log also
      checks the checkpoints the gateway logged (its JSON log), which catches a cut that
      took the checkpoint file's tail too. --strict also fails on records no checkpoint
      covers yet (an unsigned tail, as after a crash)
  query [DIR] [--postgres URL] [filters] [--limit N] [--format table|json]
      records matching the filters, oldest first (at most --limit, default 100)
  export [DIR] [--postgres URL] [filters] [--format jsonl|csv] [--out FILE]
      every matching record as JSONL (the stored lines) or CSV, to stdout or FILE
  prune [DIR] --older-than AGE --private-key FILE [--postgres URL] [--dry-run]
      remove whole segments (or rows) older than AGE ("90d") from the start of each
      chain, and write a signed prune record that verify accepts

DIR is the JSONL store's directory (audit.store.dir); --postgres reads the PostgreSQL
store instead (--table, default bulwark_audit).

filters:
  --subject S       the authenticated subject
  --action A        an action ("auth.signin"), or a prefix with * ("admin.*")
  --outcome O       ${AUDIT_OUTCOMES.join(", ")}
  --route R         the route template
  --since T         from T: ISO 8601 ("2026-01-31", "2026-01-31T12:00:00Z") or an age ("24h", "7d")
  --until T         before T (same forms)

exit codes: 0 ok, 1 tampering found (verify), 2 usage, 3 runtime failure (store unreachable).`;

const FILTER_FLAGS = {
  subject: { type: "string" },
  action: { type: "string" },
  outcome: { type: "string" },
  route: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  postgres: { type: "string" },
  table: { type: "string" },
} as const;

const TABLE = /^[a-z_][a-z0-9_]{0,47}$/;

function tableName(value: string | undefined): string {
  const table = value ?? "bulwark_audit";
  if (!TABLE.test(table))
    throw new BulwarkError("usage", `--table ${JSON.stringify(table)}: expected a lowercase SQL identifier`);
  return table;
}

/** The DIR positional, or --postgres; exactly one. */
function source(
  command: string,
  positionals: readonly string[],
  postgres: string | undefined,
): { dir?: string; postgres?: string } {
  if (positionals.length > 1)
    throw new BulwarkError("usage", `${command}: expected one DIR, got ${positionals.length}`);
  const dir = positionals[0];
  if (dir && postgres) throw new BulwarkError("usage", `${command}: give DIR or --postgres, not both`);
  if (!dir && !postgres) {
    throw new BulwarkError(
      "usage",
      `${command}: give the audit directory (DIR) or --postgres URL; see \`bulwark audit --help\``,
    );
  }
  if (dir) requireAuditDirectory(dir);
  return dir ? { dir } : { postgres: postgres! };
}

function filterFrom(values: { [K in keyof typeof FILTER_FLAGS]?: string }): AuditFilter {
  if (values.outcome !== undefined && !(AUDIT_OUTCOMES as readonly string[]).includes(values.outcome)) {
    throw new BulwarkError(
      "usage",
      `--outcome ${JSON.stringify(values.outcome)}: expected one of ${AUDIT_OUTCOMES.join(", ")}`,
    );
  }
  const since = values.since === undefined ? undefined : parseTimeBound("since", values.since);
  const until = values.until === undefined ? undefined : parseTimeBound("until", values.until);
  return {
    ...(values.subject === undefined ? {} : { subject: values.subject }),
    ...(values.action === undefined ? {} : { action: values.action }),
    ...(values.outcome === undefined ? {} : { outcome: values.outcome as AuditFilter["outcome"] }),
    ...(values.route === undefined ? {} : { route: values.route }),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
}

/** Runs against PostgreSQL, turning a missing table into a clear usage error. */
async function onPostgres<T>(
  url: string,
  table: string,
  work: (client: import("pg").Client) => Promise<T>,
): Promise<T> {
  return withPostgres(url, async (client) => {
    try {
      return await work(client);
    } catch (error) {
      if ((error as { code?: string }).code === "42P01") {
        throw new BulwarkError("usage", `no audit table ${table} in that database (--table names it)`);
      }
      if (error instanceof BulwarkError) throw error;
      throw new BulwarkError("audit_store_failed", `postgres: ${(error as Error).message}`);
    }
  });
}

async function* matching(
  where: { dir?: string; postgres?: string },
  table: string,
  filter: AuditFilter,
  client?: import("pg").Client,
) {
  const records = where.dir ? readDirectoryRecords(where.dir) : readPostgresRecords(client!, table, filter);
  for await (const record of records) if (matchesFilter(record, filter)) yield record;
}

async function keygen(argv: readonly string[]): Promise<number> {
  const { values } = parseFlags("audit", argv, {
    out: { type: "string" },
    "public-out": { type: "string" },
    force: { type: "boolean" },
  });
  if (!values.out)
    throw new BulwarkError("usage", "keygen: --out FILE is required (where the private key goes)");
  const publicOut = values["public-out"] ?? `${values.out}.pub`;
  for (const file of [values.out, publicOut]) {
    if (existsSync(file) && !values.force) {
      throw new BulwarkError("usage", `${file} exists; refusing to overwrite a key (--force replaces it)`);
    }
  }
  const pair = generateSigningKeyPair();
  try {
    writeFileDurable(values.out, pair.privatePem);
    writeFileDurable(publicOut, pair.publicPem);
  } catch (error) {
    throw new BulwarkError(
      "usage",
      `cannot write the key: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  process.stdout.write(pair.publicPem);
  say(`private key written to ${values.out} (mode 0600; keep it secret, point audit.signingKey at it)`);
  say(
    `public key written to ${publicOut} (key id ${pair.keyId}; give it to \`bulwark audit verify --public-key\`)`,
  );
  return ExitCode.Ok;
}

function printReport(report: VerifyReport, label: string): void {
  say(`audit verify: ${label}`);
  for (const chain of report.chains) {
    const range =
      chain.firstSeq === null
        ? "no records"
        : `${chain.records} records, seq ${chain.firstSeq}..${chain.lastSeq}`;
    const signed =
      chain.signedThrough === null ? "no valid checkpoint" : `signed through seq ${chain.signedThrough}`;
    const pruned = chain.prunedBefore === null ? "" : `, pruned before seq ${chain.prunedBefore}`;
    say(`  chain ${chain.writer}: ${range}, ${chain.checkpoints} checkpoints, ${signed}${pruned}`);
  }
  for (const finding of report.findings) {
    const label = finding.severity === "tamper" ? "TAMPERED" : "warning";
    const where = [finding.at, finding.seq === undefined ? undefined : `seq ${finding.seq}`]
      .filter(Boolean)
      .join(" ");
    say(`  ${label} ${finding.kind}${where ? ` at ${where}` : ""}: ${finding.message}`);
  }
  say(report.ok ? "result: intact" : "result: tampering found");
}

async function verify(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "audit",
    argv,
    {
      "public-key": { type: "string", multiple: true },
      "checkpoint-log": { type: "string", multiple: true },
      postgres: { type: "string" },
      table: { type: "string" },
      strict: { type: "boolean" },
      format: { type: "string" },
    },
    true,
  );
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json")
    throw new BulwarkError("usage", `--format ${format}: expected text or json`);
  const keyFiles = values["public-key"] ?? [];
  if (keyFiles.length === 0) {
    throw new BulwarkError(
      "usage",
      "verify: --public-key FILE is required (the .pub file `bulwark audit keygen` wrote)",
    );
  }
  const keys = keyFiles.map(loadVerifyingKey);
  const startedAt = new Date().toISOString();
  const where = source("verify", positionals, values.postgres);
  const table = tableName(values.table);
  const input = where.dir
    ? readDirectoryForVerify(where.dir)
    : await onPostgres(where.postgres!, table, (client) => readPostgresForVerify(client, table));
  const anchors = (values["checkpoint-log"] ?? []).flatMap(readCheckpointLog);
  const report = verifyChains({ ...input, anchors }, keys);
  const strictFailure =
    values.strict === true && report.findings.some((finding) => finding.kind === "unsigned-tail");
  if (format === "json") {
    // An evidence document (DESIGN.md: kind, version, startedAt/finishedAt, then its own fields).
    const evidence = {
      kind: "audit-verify",
      version: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      source: where.dir ?? `postgres table ${table}`,
      keyIds: keys.map((key) => key.keyId),
      strict: values.strict === true,
      ...report,
      ok: report.ok && !strictFailure,
    };
    process.stdout.write(`${JSON.stringify(evidence, null, 2)}\n`);
  } else printReport(report, where.dir ?? `postgres table ${table}`);
  if (strictFailure && format === "text")
    say("--strict: records without a signed checkpoint fail verification");
  return report.ok && !strictFailure ? ExitCode.Ok : ExitCode.Failed;
}

async function query(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "audit",
    argv,
    { ...FILTER_FLAGS, limit: { type: "string" }, format: { type: "string" } },
    true,
  );
  const format = values.format ?? "table";
  if (format !== "table" && format !== "json")
    throw new BulwarkError("usage", `--format ${format}: expected table or json`);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new BulwarkError("usage", `--limit ${values.limit}: expected a positive integer`);
  const filter = filterFrom(values);
  const where = source("query", positionals, values.postgres);
  const table = tableName(values.table);
  const collect = async (client?: import("pg").Client) => {
    const found: ChainRecord[] = [];
    for await (const record of matching(where, table, filter, client)) found.push(record);
    return found;
  };
  const found = where.dir ? await collect() : await onPostgres(where.postgres!, table, collect);
  // Oldest first across writers; within a writer, chain order.
  found.sort((a, b) => a.time.localeCompare(b.time) || a.writer.localeCompare(b.writer) || a.seq - b.seq);
  const shown = found.slice(0, limit);
  if (format === "json") {
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  } else {
    say(
      formatTable(
        shown,
        COLUMNS.filter((column) => column !== "traceId" && column !== "requestId"),
      ),
    );
    say(
      `${shown.length} of ${found.length} matching records${found.length > shown.length ? ` (--limit ${limit})` : ""}`,
    );
  }
  return ExitCode.Ok;
}

async function exportRecords(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "audit",
    argv,
    { ...FILTER_FLAGS, out: { type: "string" }, format: { type: "string" } },
    true,
  );
  const format = values.format ?? "jsonl";
  if (format !== "jsonl" && format !== "csv")
    throw new BulwarkError("usage", `--format ${format}: expected jsonl or csv`);
  const filter = filterFrom(values);
  const where = source("export", positionals, values.postgres);
  const table = tableName(values.table);
  // To a file: a temp file beside it, fsynced, renamed over it, so a reader never sees half.
  const temp = values.out
    ? join(dirname(values.out), `.${basename(values.out)}.${process.pid}.tmp`)
    : undefined;
  let file: AppendFile | undefined;
  if (temp) {
    try {
      file = await AppendFile.open(temp, true);
    } catch (error) {
      throw new BulwarkError(
        "usage",
        `cannot write ${values.out}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
      );
    }
  }
  let pending: string[] = [];
  let size = 0;
  const emit = async (text: string, force = false) => {
    pending.push(text);
    size += text.length;
    if (!force && size < 65_536) return;
    const chunk = pending.join("");
    pending = [];
    size = 0;
    if (file) await file.append(Buffer.from(chunk, "utf8"));
    else if (!process.stdout.write(chunk))
      await new Promise((resolve) => process.stdout.once("drain", resolve));
  };
  let count = 0;
  const run = async (client?: import("pg").Client) => {
    if (format === "csv") await emit(csvHeader());
    for await (const record of matching(where, table, filter, client)) {
      await emit(format === "csv" ? csvLine(record) : jsonlLine(record));
      count += 1;
    }
    await emit("", true);
  };
  try {
    if (where.dir) await run();
    else await onPostgres(where.postgres!, table, run);
    if (file && temp && values.out) {
      await file.sync();
      await file.close();
      file = undefined;
      renameSync(temp, values.out);
      await fsyncDirectory(dirname(values.out));
    }
  } finally {
    if (file) await file.close().catch(() => undefined);
    if (temp) rmSync(temp, { force: true });
  }
  say(`${count} records exported${values.out ? ` to ${values.out}` : ""}`);
  return ExitCode.Ok;
}

async function prune(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "audit",
    argv,
    {
      "older-than": { type: "string" },
      "private-key": { type: "string" },
      postgres: { type: "string" },
      table: { type: "string" },
      "dry-run": { type: "boolean" },
    },
    true,
  );
  const olderThan = values["older-than"];
  if (!olderThan) throw new BulwarkError("usage", 'prune: --older-than AGE is required (such as "90d")');
  const age = parseDuration(olderThan);
  if (age === undefined || age <= 0) {
    throw new BulwarkError(
      "usage",
      `--older-than ${JSON.stringify(olderThan)}: expected an age such as "90d", "12h"`,
    );
  }
  if (!values["private-key"]) {
    throw new BulwarkError(
      "usage",
      "prune: --private-key FILE is required (the audit signing key signs the prune record)",
    );
  }
  const key = loadSigningKey(values["private-key"]);
  const where = source("prune", positionals, values.postgres);
  const table = tableName(values.table);
  const cutoff = new Date(Date.now() - age);
  const dryRun = values["dry-run"] === true;
  const results: PruneResult[] = where.dir
    ? await pruneDirectory(where.dir, cutoff, key, { dryRun, lockTimeout: 10_000 })
    : await onPostgres(where.postgres!, table, (client) =>
        prunePostgres(client, table, cutoff, key, { dryRun, lockTimeout: 10_000 }),
      );
  for (const result of results) {
    say(
      `${dryRun ? "would prune" : "pruned"} chain ${result.writer}: ${result.records} records` +
        `${result.segments.length > 0 ? ` in ${result.segments.length} segments` : ""}; it now starts at seq ${result.keptFrom}`,
    );
  }
  if (results.length === 0) say(`nothing older than ${cutoff.toISOString()} to prune`);
  return ExitCode.Ok;
}

const SUBCOMMANDS: Record<string, (argv: readonly string[]) => Promise<number>> = {
  keygen,
  verify,
  query,
  export: exportRecords,
  prune,
};

export const auditCommand: Command = {
  name: "audit",
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    const run = sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
    if (!run) {
      throw new BulwarkError(
        "usage",
        sub === undefined
          ? "expected a subcommand (keygen, verify, query, export, prune); see `bulwark audit --help`"
          : `unknown subcommand ${JSON.stringify(sub)} (keygen, verify, query, export, prune)`,
      );
    }
    return run(rest);
  },
};
