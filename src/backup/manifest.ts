/**
 * The backup manifest (`<repo>/<id>/manifest.json`), written last: a backup exists, for list,
 * restore, drill and prune, only when its manifest does and parses. Format version 1; fields
 * are described in docs/disaster-recovery.md.
 */
import { z } from "zod";

export const MANIFEST_FILE = "manifest.json";
export const ARTIFACT_FILE = "dump.bwenc";
/** Backup ids sort by time: 20261126T104900Z-3f9a1c. */
export const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

const tableStats = z.object({
  schema: z.string(),
  name: z.string(),
  rows: z.number().int().nonnegative(),
  checksum: z.string().regex(/^-?\d+$/),
  method: z.literal("columns"),
});

/** How an artifact is encrypted: shared by logical backups and base backups. */
export const encryptionSchema = z.object({
  algorithm: z.literal("aes-256-gcm-stream-v1"),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  keyKind: z.enum(["file", "passphrase"]),
  chunkSize: z.number().int().positive(),
});

/** The encrypted files of a backup, each with its size and SHA-256. */
export const artifactsSchema = z
  .array(
    z.object({
      name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  )
  .min(1);

export const manifestSchema = z.object({
  kind: z.literal("bulwark-backup"),
  formatVersion: z.literal(1),
  id: z.string().regex(BACKUP_ID),
  database: z.string(),
  source: z.string(),
  serverVersion: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  snapshot: z.object({ id: z.string(), takenAt: z.string() }),
  tool: z.object({ name: z.literal("bulwark"), version: z.string(), pgDump: z.string() }),
  dump: z.object({ format: z.literal("custom"), compression: z.number().int().min(0).max(9) }),
  encryption: encryptionSchema,
  artifacts: artifactsSchema,
  size: z.number().int().nonnegative(),
  checksumAlgorithm: z.string(),
  tables: z.array(tableStats),
  /** HMAC-SHA256 of the rest, under a key derived from the backup key (manifest-mac.ts). */
  mac: z.string().regex(/^[0-9a-f]{64}$/),
});

export type Manifest = z.infer<typeof manifestSchema>;

/** The drill record a passing drill leaves next to the manifest; prune protects the newest. */
export const VERIFIED_FILE = "verified.json";
export const verifiedSchema = z.object({
  id: z.string(),
  drilledAt: z.string(),
  evidence: z.string().optional(),
});
export type VerifiedRecord = z.infer<typeof verifiedSchema>;

/** Marker of a backup being written: its owner's pid and host, so prune can tell live from dead. */
export const IN_PROGRESS_FILE = "in-progress.json";
