/**
 * Backup settings: the `backup:` section of bulwark.yaml (schema in config-schema.ts, also part
 * of the main config schema), read through the one section loader (src/config/section.ts:
 * positions, `${env:…}`/`${file:…}` references), overridden by flags. Secrets — the database
 * password, a passphrase, S3 secret keys — come only from references, never from a flag or a
 * value in clear. Every problem is reported together with file:line:column.
 */
import { resolve } from "node:path";
import { ConfigError, type ConfigProblem } from "../config/config-error.js";
import { pathKey } from "../config/secret-references.js";
import { type ConfigDocument, loadConfigSection, readConfigDocument } from "../config/section.js";
import { parseDuration } from "../config/units.js";
import { BulwarkError } from "../errors.js";
import { type BackupKey, keyFromPassphrase, readKeyFile } from "./backup-key.js";
import { type BackupSection, backupSectionSchema } from "./config-schema.js";
import type { BackupKeys } from "./key-ring.js";
import { BackupRepository, openStore } from "./repository.js";
import type { RetentionPolicy } from "./retention.js";
import { isS3Location } from "./s3-settings.js";

export type { BackupSection } from "./config-schema.js";

/** Keys of the section whose values must come from a reference, never in clear in the file. */
const SECRET_KEYS = ["password", "passphrase"] as const;
/** The same inside backup.s3 (the access key id is an identifier, not a secret: AWS IAM docs). */
const S3_SECRET_KEYS = ["secretAccessKey", "sessionToken"] as const;
const REFERENCE_ONLY = /^\$\{(?:env|file):[^}]*\}$/;

/** Problems the schema cannot see: secrets in clear (nested ones and a password in the db URL). */
function clearSecrets(document: ConfigDocument, section: unknown): ConfigProblem[] {
  if (section === null || typeof section !== "object") return [];
  const problems: ConfigProblem[] = [];
  const at = (path: readonly string[], message: string): ConfigProblem => ({
    where: document.locate(["backup", ...path]),
    path: pathKey(["backup", ...path]),
    message,
  });
  const s3 = (section as Record<string, unknown>).s3;
  if (s3 !== null && typeof s3 === "object") {
    for (const key of S3_SECRET_KEYS) {
      const value = (s3 as Record<string, unknown>)[key];
      if (typeof value === "string" && !REFERENCE_ONLY.test(value)) {
        problems.push(
          at(
            ["s3", key],
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference, written as users write it
            "must be a ${file:/path} or ${env:NAME} reference, not a literal in the config file",
          ),
        );
      }
    }
  }
  const db = (section as Record<string, unknown>).db;
  if (typeof db === "string" && !db.includes("${") && /^postgres(?:ql)?:\/\/[^/@]*:[^/@]*@/.test(db)) {
    problems.push(
      at(["db"], `holds a password in clear; remove it from the URL and set backup.password: \${file:…}`),
    );
  }
  return problems;
}

/**
 * The `backup:` section of `file`, validated, with paths made relative to the file. Throws
 * ConfigError listing every problem; config_unreadable when the file cannot be read.
 */
export function loadBackupSection(file: string, env: NodeJS.ProcessEnv = process.env): BackupSection {
  const document = readConfigDocument(file);
  const raw = document.raw.backup;
  if (raw === undefined) {
    throw new ConfigError(file, [
      {
        where: file,
        path: "backup",
        message: "no `backup:` section; see docs/disaster-recovery.md#settings",
      },
    ]);
  }
  const extra = clearSecrets(document, raw);
  let loaded: ReturnType<typeof loadConfigSection<typeof backupSectionSchema>>;
  try {
    loaded = loadConfigSection(document, ["backup"], backupSectionSchema, {
      env,
      references: SECRET_KEYS,
    });
  } catch (error) {
    if (error instanceof ConfigError && extra.length > 0)
      throw new ConfigError(file, [...error.problems, ...extra]);
    throw error;
  }
  if (extra.length > 0) throw new ConfigError(file, extra);
  const out = loaded!.value;
  const baseDir = loaded!.baseDir;
  // Paths in the file are relative to the file, as the rest of bulwark.yaml.
  return {
    ...out,
    ...(out.repo && !isS3Location(out.repo) ? { repo: resolve(baseDir, out.repo) } : {}),
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

/** The repository location: a resolved directory, or an s3:// URL as given. */
export function requireRepo(flag: string | undefined, section: BackupSection, command: string): string {
  const repo = flag ?? section.repo;
  if (!repo) {
    throw new BulwarkError(
      "usage",
      `no repository: pass --repo DIR or --repo s3://BUCKET/PREFIX, or set backup.repo in -c FILE; see \`bulwark ${command} --help\``,
    );
  }
  return isS3Location(repo) ? repo : resolve(repo);
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

/**
 * `--key-file` given several times (wal push/fetch, restore --data-dir during a key rotation:
 * `bulwark backup rekey`): every file, the first one encrypting; once or not at all: loadKey.
 */
export async function loadKeys(
  flags: readonly string[] | undefined,
  section: BackupSection,
  command: string,
): Promise<BackupKeys> {
  const files = flags ?? [];
  if (files.length > 1) return files.map((file) => readKeyFile(resolve(file)));
  return loadKey(files[0], section, command);
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
    maxAgeMs = parseDuration(flags.maxAgeMs);
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

/** The repository named by --repo or backup.repo: a directory or s3://bucket/prefix. */
export function repositoryFrom(
  flag: string | undefined,
  section: BackupSection,
  command: string,
): BackupRepository {
  return new BackupRepository(openStore(requireRepo(flag, section, command), section));
}

/** --jobs N (1..64; flag wins over backup.jobs; default 1): pg_dump or pg_restore processes at once. */
export function jobsFrom(flag: string | undefined, section: BackupSection): number {
  if (flag === undefined) return section.jobs ?? 1;
  if (!/^[0-9]{1,2}$/.test(flag) || Number(flag) < 1 || Number(flag) > 64) {
    throw new BulwarkError(
      "usage",
      `--jobs must be a whole number from 1 to 64, got ${JSON.stringify(flag)}`,
    );
  }
  return Number(flag);
}
