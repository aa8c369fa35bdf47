/**
 * The backup manifest (`<repo>/<id>/manifest.json`), written last: a backup exists, for list,
 * restore, drill and prune, only when its manifest does and parses. Format version 1 is a
 * single-artifact backup (`dump.format: "custom"`); format version 2 a split backup (`dump.format:
 * "split"`, `bulwark backup --jobs N`), whose `dump` says which artifact holds which tables' data.
 * Fields are described in docs/disaster-recovery.md.
 */
import { z } from "zod";

export const MANIFEST_FILE = "manifest.json";
export const ARTIFACT_FILE = "dump.bwenc";
/** Split backups: everything but the big tables' data (pg_dump --exclude-table-data). */
export const SCHEMA_ARTIFACT_FILE = "schema.bwenc";
/** Split backups: the data of group `index` (1-based) of big tables, data-0001.bwenc …. */
export function dataArtifactFile(index: number): string {
  return `data-${String(index).padStart(4, "0")}.bwenc`;
}
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

const artifactName = z.string().regex(/^[a-z0-9][a-z0-9.-]*$/);

/** The encrypted files of a backup, each with its size and SHA-256. */
export const artifactsSchema = z
  .array(
    z.object({
      name: artifactName,
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  )
  .min(1);

const tableName = z.object({ schema: z.string(), name: z.string() });

const customDump = z.object({
  format: z.literal("custom"),
  compression: z.number().int().min(0).max(9),
});

/**
 * A split backup: `schemaArtifact` holds the whole database except the data of the tables listed
 * in `parts` (pre-data, the other tables' data, sequences, large objects, post-data); each part's
 * artifact holds the data (pg_dump --data-only) of its tables, dumped in the same snapshot.
 */
const splitDump = z.object({
  format: z.literal("split"),
  compression: z.number().int().min(0).max(9),
  /** pg_dumps run at once (`--jobs`). */
  jobs: z.number().int().min(2).max(64),
  /** Tables of at least this many bytes (pg_table_size) could go to a data artifact. */
  minTableBytes: z.number().int().nonnegative(),
  schemaArtifact: artifactName,
  parts: z.array(
    z.object({
      artifact: artifactName,
      /** Sum of pg_table_size of its tables when the backup was taken (the balancing weight). */
      tableBytes: z.number().int().nonnegative(),
      tables: z.array(tableName).min(1),
    }),
  ),
});

const manifestFields = {
  kind: z.literal("bulwark-backup"),
  id: z.string().regex(BACKUP_ID),
  database: z.string(),
  source: z.string(),
  serverVersion: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  snapshot: z.object({ id: z.string(), takenAt: z.string() }),
  tool: z.object({ name: z.literal("bulwark"), version: z.string(), pgDump: z.string() }),
  encryption: encryptionSchema,
  artifacts: artifactsSchema,
  size: z.number().int().nonnegative(),
  checksumAlgorithm: z.string(),
  tables: z.array(tableStats),
  /** HMAC-SHA256 of the rest, under a key derived from the backup key (manifest-mac.ts). */
  mac: z.string().regex(/^[0-9a-f]{64}$/),
};

export const manifestSchema = z
  .discriminatedUnion("formatVersion", [
    z.object({ ...manifestFields, formatVersion: z.literal(1), dump: customDump }),
    z.object({ ...manifestFields, formatVersion: z.literal(2), dump: splitDump }),
  ])
  .superRefine((manifest, context) => {
    // Every artifact the dump names is listed (with its size and SHA-256) and the other way round.
    const named =
      manifest.dump.format === "custom"
        ? [ARTIFACT_FILE]
        : [manifest.dump.schemaArtifact, ...manifest.dump.parts.map((part) => part.artifact)];
    const listed = manifest.artifacts.map((artifact) => artifact.name);
    if (new Set(listed).size !== listed.length || named.sort().join("/") !== [...listed].sort().join("/")) {
      context.addIssue({
        code: "custom",
        path: ["artifacts"],
        message: "the artifacts do not match the ones the dump names",
      });
    }
  });

export type Manifest = z.infer<typeof manifestSchema>;
export type SplitDump = z.infer<typeof splitDump>;
export type SplitManifest = Manifest & { readonly formatVersion: 2; readonly dump: SplitDump };

export function isSplit(manifest: Manifest): manifest is SplitManifest {
  return manifest.dump.format === "split";
}

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
