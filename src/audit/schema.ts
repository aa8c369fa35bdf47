/**
 * Config schema of the audit trail (referenced from src/config/schema.ts): the process-wide
 * `audit:` section, and the per-route `audit: true | required | false` value.
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { duration, size } from "../config/units.js";

const durability = z
  .enum(["record", "batch"])
  .default("record")
  .describe(
    "record: fsync before a durable write is acknowledged (concurrent records share one fsync); batch: fsync at most every batchInterval (a power loss can lose that window)",
  );

const jsonlStoreSchema = z
  .strictObject({
    type: z.literal("jsonl").describe("append-only JSONL segment files in a local directory"),
    dir: z.string().min(1).describe("directory of the segment files (created with mode 0700 if missing)"),
    durability,
    batchInterval: duration("longest time between two fsyncs with durability batch").default(200),
    rotateSize: size("start a new segment file beyond this size").default(64 * 1024 * 1024),
    rotateAge: duration("start a new segment file after this time").default(86_400_000),
  })
  .describe("embedded store: JSONL segments on local disk");

const TABLE = /^[a-z_][a-z0-9_]{0,47}$/;

const postgresStoreSchema = z
  .strictObject({
    type: z.literal("postgres").describe("records in a PostgreSQL table, one chain per gateway process"),
    url: z.string().min(1).describe("postgres:// URL; put the password in an env or file reference"),
    table: z
      .string()
      .regex(TABLE, { message: "expected a lowercase SQL identifier (letters, digits, _)" })
      .default("bulwark_audit")
      .describe("table of records (created if missing); checkpoints go to TABLE_checkpoints"),
    batchSize: z.number().int().min(1).max(5000).default(500).describe("most records per INSERT"),
    spoolDir: z
      .string()
      .min(1)
      .describe("local directory where records wait, in order, while PostgreSQL is unreachable"),
    durability,
    batchInterval: duration("longest time between two spool fsyncs with durability batch").default(200),
    connectTimeout: duration("longest wait for a connection before records go to the spool").default(2000),
    retryInterval: duration("how often an unreachable PostgreSQL is retried").default(1000),
    spoolForRequired: z
      .boolean()
      .default(false)
      .describe(
        "let `audit: required` routes through while records go to the spool (default: they answer 503 until PostgreSQL is back)",
      ),
  })
  .describe("shared store: PostgreSQL, with a local disk spool while it is down");

export const auditStoreSchema = z
  .discriminatedUnion("type", [jsonlStoreSchema, postgresStoreSchema])
  .describe("where audit records are written");

export const auditSchema = z
  .strictObject({
    store: auditStoreSchema,
    signingKey: z
      .string()
      .min(1)
      .describe(
        "Ed25519 private key (PEM file) that signs checkpoints; create it with `bulwark audit keygen`",
      ),
    checkpointEvery: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe("write a signed checkpoint after this many records"),
    checkpointInterval: duration(
      "write a signed checkpoint at least this often while records arrive",
    ).default(60_000),
    queueSize: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe("records held in memory while the store is slow; beyond, records are counted as dropped"),
    retention: z
      .strictObject({
        maxAge: duration(
          "records older than this are removed (whole segments or rows from the start of each chain), with a signed prune record",
        ).refine((ms) => ms >= 3_600_000, {
          message: 'expected at least "1h"; retention is in days, e.g. "90d"',
        }),
        every: duration("how often the gateway looks for records to prune")
          .refine((ms) => ms >= 60_000, { message: 'expected at least "1m"' })
          .default(3_600_000),
      })
      .optional()
      .describe(
        "automatic retention by age, run by the gateway (the primary process); the same as `bulwark audit prune --older-than`",
      ),
    writerPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,48}$/, { message: "expected letters, digits, _ . or -" })
      .optional()
      .describe("prefix of this process's chain id (default: the host name); pid and start time follow"),
  })
  .describe("tamper-evident audit trail (docs/audit.md)");

export const routeAuditSchema = z
  .union([z.boolean(), z.literal("required")])
  .describe(
    "record every request of the route: true (best effort, never blocks), required (the record must be durable first, else 503), false",
  );

export type AuditConfig = z.output<typeof auditSchema>;
export type AuditConfigInput = z.input<typeof auditSchema>;
export type AuditStoreConfig = z.output<typeof auditStoreSchema>;
export type JsonlStoreConfig = z.output<typeof jsonlStoreSchema>;
export type PostgresStoreConfig = z.output<typeof postgresStoreSchema>;
export type RouteAuditConfig = z.output<typeof routeAuditSchema>;

/** Resolves the store directory, spool directory and signing key against the config file's directory. */
export function resolveAuditConfig(audit: AuditConfig, baseDir: string): AuditConfig {
  const inBase = (file: string) => (isAbsolute(file) ? file : resolve(baseDir, file));
  const store =
    audit.store.type === "jsonl"
      ? { ...audit.store, dir: inBase(audit.store.dir) }
      : { ...audit.store, spoolDir: inBase(audit.store.spoolDir) };
  return { ...audit, store, signingKey: inBase(audit.signingKey) };
}
