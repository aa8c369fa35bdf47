/**
 * Backup settings: the `backup:` section of a YAML file given with `-c FILE`, overridden by
 * flags. Secrets (the database password, a passphrase) come only from `${env:…}` / `${file:…}`
 * references, never from a flag. Every problem is reported together with file:line:column.
 * (This section will move into the main bulwark.yaml schema; docs/disaster-recovery.md.)
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { ConfigError, type ConfigProblem } from "../config/config-error.js";
import { pathKey, resolveReferences } from "../config/secret-references.js";
import { parseYamlMapping } from "../config/yaml-document.js";
import { BulwarkError } from "../errors.js";
import { type BackupKey, keyFromPassphrase, readKeyFile } from "./backup-key.js";
import type { RetentionPolicy } from "./retention.js";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** "250ms", "30s", "15m", "4h", "30d", "2w" → milliseconds. */
export function parseLongDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_MS[match[2] as keyof typeof DURATION_MS]);
}

const duration = z
  .string()
  .regex(DURATION, { message: 'expected a duration such as "30s", "15m", "4h", "30d" or "2w"' })
  .transform((value) => parseLongDuration(value)!);
const count = z.number().int().min(0);

export const backupSectionSchema = z
  .object({
    db: z.string().min(1).optional().describe("postgres:// URL of the database to back up"),
    password: z
      .string()
      .min(1)
      .optional()
      .describe(`database password, as a \${file:…} or \${env:…} reference`),
    repo: z.string().min(1).optional().describe("repository directory"),
    keyFile: z.string().min(1).optional().describe("encryption key file (32 bytes, raw or base64)"),
    passphrase: z.string().min(1).optional().describe("encryption passphrase, as a reference"),
    compression: z.number().int().min(0).max(9).optional().describe("pg_dump -Z level"),
    pgBin: z.string().min(1).optional().describe("directory of pg_dump and pg_restore"),
    retention: z
      .object({
        keepLast: count.optional(),
        keepDaily: count.optional(),
        keepWeekly: count.optional(),
        keepMonthly: count.optional(),
        maxAge: duration.optional(),
      })
      .strict()
      .optional(),
    drill: z
      .object({
        assertions: z.array(z.string().min(1)).optional(),
        rto: duration.optional(),
        rpo: duration.optional(),
        evidenceDir: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type BackupSection = z.infer<typeof backupSectionSchema>;

/** Keys whose values must come from a reference, never in clear in the file. */
const SECRET_KEYS = ["password", "passphrase"] as const;

export function loadBackupSection(file: string, env: NodeJS.ProcessEnv = process.env): BackupSection {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new BulwarkError(
      "config_unreadable",
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code}); check -c`,
    );
  }
  const document = parseYamlMapping(text, file);
  const section = document.raw.backup;
  const problem = (path: readonly (string | number)[], message: string): ConfigProblem => ({
    where: document.locate(["backup", ...path]),
    path: pathKey(["backup", ...path]),
    message,
  });
  if (section === undefined) throw new ConfigError(file, [problem([], "no `backup:` section")]);
  const baseDir = dirname(resolve(file));
  const resolved = resolveReferences(section, { env, baseDir });
  const problems = resolved.problems.map((found) => problem(found.path, found.message));
  if (section !== null && typeof section === "object") {
    for (const key of SECRET_KEYS) {
      const value = (section as Record<string, unknown>)[key];
      if (typeof value === "string" && !resolved.secretPaths.has(key)) {
        problems.push(problem([key], `must be a \${file:…} or \${env:…} reference, not a value in clear`));
      }
    }
    const db = (section as Record<string, unknown>).db;
    if (
      typeof db === "string" &&
      !resolved.secretPaths.has("db") &&
      /^postgres(?:ql)?:\/\/[^/@]*:[^/@]*@/.test(db)
    ) {
      problems.push(
        problem(
          ["db"],
          `holds a password in clear; remove it from the URL and set backup.password: \${file:…}`,
        ),
      );
    }
  }
  const parsed = backupSectionSchema.safeParse(resolved.value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(problem(issue.path as (string | number)[], issue.message));
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  const out = parsed.data!;
  // Paths in the file are relative to the file, as the rest of bulwark.yaml.
  return {
    ...out,
    ...(out.repo ? { repo: resolve(baseDir, out.repo) } : {}),
    ...(out.keyFile ? { keyFile: resolve(baseDir, out.keyFile) } : {}),
    ...(out.pgBin ? { pgBin: resolve(baseDir, out.pgBin) } : {}),
    ...(out.drill?.evidenceDir
      ? { drill: { ...out.drill, evidenceDir: resolve(baseDir, out.drill.evidenceDir) } }
      : {}),
  };
}

/** Reads -c FILE when given; otherwise an empty section (flags only). */
export function backupSection(configFile: string | undefined): BackupSection {
  return configFile ? loadBackupSection(configFile) : {};
}

export function requireRepo(flag: string | undefined, section: BackupSection, command: string): string {
  const repo = flag ?? section.repo;
  if (!repo) {
    throw new BulwarkError(
      "usage",
      `no repository: pass --repo DIR or set backup.repo in -c FILE; see \`bulwark ${command} --help\``,
    );
  }
  return resolve(repo);
}

export async function loadKey(
  flag: string | undefined,
  section: BackupSection,
  command: string,
): Promise<BackupKey> {
  const keyFile = flag ? resolve(flag) : section.keyFile;
  if (keyFile && section.passphrase && !flag) {
    throw new BulwarkError("usage", "backup.keyFile and backup.passphrase are both set; keep one");
  }
  if (keyFile) return readKeyFile(keyFile);
  if (section.passphrase) return keyFromPassphrase(section.passphrase);
  throw new BulwarkError(
    "usage",
    `no encryption key: pass --key-file FILE (create one with \`bulwark backup keygen --out FILE\`) or set backup.passphrase; see \`bulwark ${command} --help\``,
  );
}

export function retentionFrom(
  section: BackupSection,
  flags: Partial<Record<keyof RetentionPolicy, string | undefined>>,
): RetentionPolicy {
  const number = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value))
      throw new BulwarkError("usage", `--${name} must be a whole number, got ${JSON.stringify(value)}`);
    return Number(value);
  };
  let maxAgeMs = section.retention?.maxAge;
  if (flags.maxAgeMs !== undefined) {
    maxAgeMs = parseLongDuration(flags.maxAgeMs);
    if (maxAgeMs === undefined)
      throw new BulwarkError(
        "usage",
        `--max-age expects a duration such as 30d or 12h, got ${JSON.stringify(flags.maxAgeMs)}`,
      );
  }
  return {
    keepLast: number("keep-last", flags.keepLast) ?? section.retention?.keepLast,
    keepDaily: number("keep-daily", flags.keepDaily) ?? section.retention?.keepDaily,
    keepWeekly: number("keep-weekly", flags.keepWeekly) ?? section.retention?.keepWeekly,
    keepMonthly: number("keep-monthly", flags.keepMonthly) ?? section.retention?.keepMonthly,
    maxAgeMs,
  };
}
