/**
 * The `backup:` section of bulwark.yaml: its schema, shared by the main config schema
 * (src/config/schema.ts, so `bulwark config check` validates it) and by the backup commands
 * (config.ts). Only zod and the config's units are imported here, so the main schema can import
 * it without a cycle through the config loader.
 */
import { z } from "zod";
import { duration } from "../config/units.js";

const count = z.number().int().min(0);

/**
 * S3-compatible object storage, for `repo: s3://bucket/prefix`. Every key is optional: the AWS
 * variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_ENDPOINT_URL) fill what is not set here (s3-settings.ts).
 */
export const s3SectionSchema = z
  .object({
    endpoint: z
      .string()
      .regex(/^https?:\/\/[^/\s]+\/?$/, {
        message: "expected an http:// or https:// URL without a path, such as https://minio.internal:9000",
      })
      .optional()
      .describe("endpoint of an S3-compatible store (default: AWS S3 in the region)"),
    region: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, { message: "expected a region name such as eu-west-1" })
      .optional()
      .describe("region (default AWS_REGION, then us-east-1)"),
    forcePathStyle: z
      .boolean()
      .optional()
      .describe("path-style URLs, endpoint/bucket/key (default: true with an endpoint, false for AWS)"),
    accessKeyId: z.string().min(1).optional().describe("access key id (default AWS_ACCESS_KEY_ID)"),
    secretAccessKey: z
      .string()
      .min(1)
      .optional()
      .describe(`secret access key, as a \${file:…} or \${env:…} reference (default AWS_SECRET_ACCESS_KEY)`),
    sessionToken: z
      .string()
      .min(1)
      .optional()
      .describe("session token of temporary credentials, as a reference (default AWS_SESSION_TOKEN)"),
    partSizeMiB: z
      .number()
      .int()
      .min(5)
      .max(5120)
      .optional()
      .describe("multipart upload part size in MiB (default 16: artifacts up to 156 GiB)"),
  })
  .strict();

export const backupSectionSchema = z
  .object({
    db: z.string().min(1).optional().describe("postgres:// URL of the database to back up"),
    password: z
      .string()
      .min(1)
      .optional()
      .describe(`database password, as a \${file:…} or \${env:…} reference`),
    repo: z.string().min(1).optional().describe("repository: a directory or s3://bucket/prefix"),
    s3: s3SectionSchema.optional().describe("S3-compatible storage settings, for an s3:// repo"),
    keyFile: z.string().min(1).optional().describe("encryption key file (32 bytes, raw or base64)"),
    passphrase: z.string().min(1).optional().describe("encryption passphrase, as a reference"),
    compression: z.number().int().min(0).max(9).optional().describe("pg_dump -Z level"),
    jobs: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe(
        "pg_dumps at once, above 1 a split backup (default 1: one artifact); pg_restores at once for restore and drill",
      ),
    pgBin: z.string().min(1).optional().describe("directory of pg_dump and pg_restore"),
    retention: z
      .object({
        keepLast: count.optional().describe("keep the N newest backups"),
        keepDaily: count.optional().describe("keep the newest backup of each of the last N days (UTC)"),
        keepWeekly: count.optional().describe("keep the newest backup of each of the last N ISO weeks"),
        keepMonthly: count.optional().describe("keep the newest backup of each of the last N months"),
        maxAge: duration('keep every backup younger than this ("30d")').optional(),
      })
      .strict()
      .optional()
      .describe("bulwark backup prune (and --schedule): a backup is kept when any rule keeps it"),
    drill: z
      .object({
        assertions: z
          .array(z.string().min(1))
          .optional()
          .describe("SQL run in the restored database; each must return one row whose first column is true"),
        rto: duration('recovery time objective ("4h")').optional(),
        rpo: duration('recovery point objective ("24h")').optional(),
        evidenceDir: z
          .string()
          .min(1)
          .optional()
          .describe("where drill evidence goes (default .bulwark/evidence)"),
      })
      .strict()
      .optional()
      .describe("bulwark drill restore"),
  })
  .strict()
  .describe("PostgreSQL backups, restores and drills (docs/disaster-recovery.md)");

export type BackupSection = z.infer<typeof backupSectionSchema>;
export type S3Section = z.infer<typeof s3SectionSchema>;
