/**
 * `bulwark backup` (take a backup), `backup list`, `backup show`, `backup prune`, `backup keygen`.
 * Wiring only: the logic is in src/backup/.
 */
import { resolve } from "node:path";
import { generateKeyFile, readKeyFile } from "../../backup/backup-key.js";
import { baseRepository, createBaseBackup } from "../../backup/base-backup.js";
import { backupSection, jobsFrom, loadKey, repositoryFrom, retentionFrom } from "../../backup/config.js";
import { resolveDbTarget } from "../../backup/connection.js";
import { createBackup, DEFAULT_COMPRESSION } from "../../backup/create-backup.js";
import { parseCron } from "../../backup/cron.js";
import { formatMs } from "../../backup/drill.js";
import type { Manifest } from "../../backup/manifest.js";
import { type MacStatus, macStatus } from "../../backup/manifest-mac.js";
import { formatBytes, progressLine, withInterrupt } from "../../backup/progress.js";
import { pruneRepository } from "../../backup/prune.js";
import { rekeyRepository } from "../../backup/rekey.js";
import { lockHolder } from "../../backup/rekey-lock.js";
import { loadNewKey } from "../../backup/rekey-new-key.js";
import { describeRekey, formatRekeyProgress } from "../../backup/rekey-report.js";
import type { BackupRepository } from "../../backup/repository.js";
import { hasRules, type RetentionPolicy } from "../../backup/retention.js";
import { openRunAudit } from "../../backup/run-audit.js";
import { BackupMetrics, runSchedule, serveMetrics } from "../../backup/scheduler.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { createLogger } from "../../observability/logger.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark backup [--db URL] --repo DIR|s3://BUCKET/PREFIX --key-file FILE [options]
       bulwark backup list [--base] [--repo DIR|s3://…] [--key-file FILE] [--format json]
       bulwark backup show ID|latest [--repo DIR|s3://…] [--key-file FILE] [--format json]
       bulwark backup prune [--keep-last N] [--keep-daily N] [--keep-weekly N]
                            [--keep-monthly N] [--max-age D] [--dry-run] [--repo DIR|s3://…]
       bulwark backup --schedule CRON [--metrics-listen HOST:PORT] [--keep-… N] [options]
       bulwark backup keygen --out FILE
       bulwark backup rekey --key-file OLD --new-key-file NEW [--dry-run] [--repo DIR|s3://…]

Encrypted, verifiable PostgreSQL backups (docs/disaster-recovery.md). A backup is pg_dump's
custom format, compressed by pg_dump, streamed through AES-256-GCM into <repo>/<id>/, with a
manifest (sizes, SHA-256, per-table row counts and checksums from the dump's own snapshot)
written last: an interrupted backup is never listed.

  -c, --config FILE   read settings from the \`backup:\` section of FILE (flags win)
  --db URL            database to back up, postgres://user@host:port/db (default: backup.db,
                      DATABASE_URL, then the PG* variables); give the password with
                      backup.password: \${file:…} or PGPASSWORD / PGPASSFILE, never in argv
  --repo DIR          repository directory (backup.repo)
  --repo s3://BUCKET/PREFIX
                      repository in an S3-compatible bucket: endpoint, region and
                      credentials from backup.s3 or AWS_ENDPOINT_URL, AWS_REGION,
                      AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (never flags)
  --key-file FILE     encryption key (backup.keyFile; or backup.passphrase: \${file:…})
  --compress N        pg_dump -Z (zlib) level 0..9 (default 1: fast; 6 is pg_dump's default,
                      smaller and slower; see docs/performance.md)
  --jobs N            pg_dumps at once, 1..64 (backup.jobs; default 1: one artifact); above
                      1 a split backup: schema.bwenc plus data-NNNN.bwenc artifacts of the
                      biggest tables, all in the same snapshot, restorable with restore --jobs
  --base              a physical base backup of the whole cluster (pg_basebackup) for
                      point-in-time recovery with archived WAL (\`bulwark wal\`), kept in
                      <repo>/base/ (\`backup list --base\` lists them); restore it with
                      \`bulwark restore --data-dir\`
  --pg-bin DIR        directory of pg_dump/pg_restore (default: the server's version from
                      /usr/lib/postgresql/<major>/bin, then PATH)
  --format json       print the manifest (list: all manifests) as JSON on stdout
  list/show --key-file FILE
                      also check each manifest's MAC under the key: "ok", "INVALID" (the
                      manifest was changed after the backup; exit 1) or "other key"
  --schedule CRON     stay running and back up at each time of the cron expression, in UTC
                      ("0 2 * * *", "@daily", six fields for seconds); each run is a JSON
                      log line on stdout; with retention flags (or backup.retention), prune
                      after each successful backup; Ctrl-C/SIGTERM stops (exit 0 when idle)
  --metrics-listen HOST:PORT   with --schedule: Prometheus metrics at /metrics
                      (bulwark_backup_runs_total{result}, _last_success_timestamp_seconds, …)
  --out FILE          keygen: the key file to create (mode 0600; never overwritten)
  --new-key-file FILE rekey: re-encrypt every backup, base backup and archived WAL file made
                      with --key-file (or backup.keyFile / backup.passphrase) under this key
                      (mode 0600); crash-safe, rerun to finish; re-encrypted backups get new
                      ids (same time stamp); see docs/disaster-recovery.md#keys-and-key-rotation
  --new-passphrase-file FILE   rekey: the new key as a passphrase read from a mode-0600 file
  --dry-run           prune: show what would be removed, remove nothing (takes no lock);
                      rekey: show what would be re-encrypted, change nothing
  --keep-last N, --keep-daily N, --keep-weekly N, --keep-monthly N, --max-age D (30d, 12h)
                      prune: retention rules; a backup is kept when any rule keeps it, and
                      the newest verified backup is always kept (backup.retention)

exit codes: 0 ok, 2 usage or config error, 3 runtime failure (database unreachable, repository
full, pg_dump failed; prune: a rekey of the repository is running, nothing removed), 130
interrupted (the partial backup is removed). A backup during a rekey is made (with a note);
prune and rekey hold <repo>/rekey.lock and refuse each other. rekey: 0 nothing left
under the old key, 1 some items still under it (failed, or made during the run: run again),
2 usage or key file error, 3 wrong old key or repository failure, 130 interrupted.`;

const COMMON = {
  config: { type: "string", short: "c" },
  repo: { type: "string" },
  format: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function jsonFormat(format: string | undefined): boolean {
  if (format === undefined || format === "text") return false;
  if (format === "json") return true;
  throw new BulwarkError("usage", `--format must be json or text, got ${JSON.stringify(format)}`);
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function describe(manifest: Manifest, verified: boolean): string[] {
  const duration = new Date(manifest.finishedAt).getTime() - new Date(manifest.startedAt).getTime();
  const rows = manifest.tables.reduce((sum, table) => sum + table.rows, 0);
  return [
    `backup ${manifest.id}${verified ? " (verified by a drill)" : ""}`,
    `  database    ${manifest.database} on ${manifest.source} (PostgreSQL ${manifest.serverVersion})`,
    `  snapshot    ${manifest.snapshot.takenAt} (${manifest.snapshot.id})`,
    `  took        ${formatMs(duration)}, ${manifest.startedAt} → ${manifest.finishedAt}`,
    `  size        ${formatBytes(manifest.size)} (pg_dump -Fc -Z${manifest.dump.compression}${manifest.dump.format === "split" ? `, split: ${manifest.artifacts.length} artifacts by ${manifest.dump.jobs} jobs` : ""}, ${manifest.encryption.algorithm}, key ${manifest.encryption.keyId})`,
    ...manifest.artifacts.map(
      (artifact) => `  artifact    ${artifact.name} ${artifact.size} bytes sha256 ${artifact.sha256}`,
    ),
    `  tables      ${manifest.tables.length}, ${rows} rows (${manifest.checksumAlgorithm})`,
    ...manifest.tables.map(
      (table) =>
        `    ${`${table.schema}.${table.name}`.padEnd(40)} ${String(table.rows).padStart(12)} rows  checksum ${table.checksum}`,
    ),
    `  tool        bulwark ${manifest.tool.version}, ${manifest.tool.pgDump}`,
  ];
}

const RETENTION_FLAGS = {
  "keep-last": { type: "string" },
  "keep-daily": { type: "string" },
  "keep-weekly": { type: "string" },
  "keep-monthly": { type: "string" },
  "max-age": { type: "string" },
} as const;

async function takeBackup(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "backup",
    argv,
    {
      ...COMMON,
      ...RETENTION_FLAGS,
      db: { type: "string" },
      "key-file": { type: "string" },
      compress: { type: "string" },
      jobs: { type: "string" },
      "pg-bin": { type: "string" },
      schedule: { type: "string" },
      "metrics-listen": { type: "string" },
      base: { type: "boolean" },
    },
    true,
  );
  if (positionals.length > 0) {
    throw new BulwarkError(
      "usage",
      `unknown subcommand ${JSON.stringify(positionals[0])}; expected list, show, prune, keygen or rekey`,
    );
  }
  const json = jsonFormat(values.format);
  const section = backupSection(values.config);
  let compression = section.compression ?? DEFAULT_COMPRESSION;
  if (values.compress !== undefined) {
    if (!/^[0-9]$/.test(values.compress))
      throw new BulwarkError("usage", `--compress must be 0..9, got ${JSON.stringify(values.compress)}`);
    compression = Number(values.compress);
  }
  const jobs = jobsFrom(values.jobs, section);
  const repo = repositoryFrom(values.repo, section, "backup");
  const key = await loadKey(values["key-file"], section, "backup");
  const target = resolveDbTarget(values.db ?? section.db, { password: section.password });
  const policy = retentionFrom(section, {
    keepLast: values["keep-last"],
    keepDaily: values["keep-daily"],
    keepWeekly: values["keep-weekly"],
    keepMonthly: values["keep-monthly"],
    maxAgeMs: values["max-age"],
  });
  const pgBin = values["pg-bin"] ?? section.pgBin;
  if (values.schedule !== undefined) {
    return scheduled({
      configFile: values.config,
      schedule: values.schedule,
      metricsListen: values["metrics-listen"],
      target,
      repo,
      key,
      compression,
      jobs,
      pgBin,
      policy,
    });
  }
  if (values["metrics-listen"] !== undefined || Object.keys(RETENTION_FLAGS).some((flag) => flag in values)) {
    throw new BulwarkError(
      "usage",
      "--metrics-listen and retention flags go with --schedule; to prune now, run `bulwark backup prune`",
    );
  }
  if (values.base && (values.compress !== undefined || values.jobs !== undefined))
    throw new BulwarkError("usage", "--compress and --jobs do not apply to --base backups");
  await noteRunningRekey(repo);
  if (values.base) {
    say(`base backup of the cluster at ${target.display} into ${repo.location}/base`);
    const base = await withInterrupt("interrupted; removing the partial base backup", (signal) =>
      createBaseBackup({ target, store: repo.store, key, pgBin, signal }),
    );
    say(`base backup ${base.id} complete: ${formatBytes(base.size)}, archive_mode ${base.archiveMode}`);
    if (base.archiveMode === "off") {
      say(
        "archive_mode is off: WAL is not archived, so this base backup cannot recover to a later point in time",
      );
    }
    if (json) printJson(base);
    return ExitCode.Ok;
  }
  const progress = progressLine();
  say(`backing up ${target.display} into ${repo.location}`);
  const manifest = await withInterrupt("interrupted; removing the partial backup", (signal) =>
    createBackup({
      target,
      repo,
      key,
      compression,
      jobs,
      pgBin,
      signal,
      onStarted: (id) => say(`backup ${id} started`),
      onProgress: (p) => progress.update(`  dumped ${formatBytes(p.bytes)} in ${formatMs(p.elapsedMs)}`),
    }).finally(() => progress.finish()),
  );
  say(describe(manifest, false).slice(0, 6).join("\n"));
  say(`backup ${manifest.id} complete`);
  if (json) printJson(manifest);
  return ExitCode.Ok;
}

/**
 * A backup is not held back by a rekey (backups must not stop for a long re-encryption): one made
 * with the key being replaced stays under it, and the rekey reports it as remaining (exit 1), so
 * the operator reruns the rekey; one made with the new key (step 2 of the documented order) is
 * already done.
 */
async function noteRunningRekey(repo: BackupRepository): Promise<void> {
  // Only a note: a repository that cannot be read fails the backup itself, with its own error.
  const holder = await lockHolder(repo.store).catch(() => undefined);
  if (holder?.operation !== "rekey") return;
  say(
    `note: a rekey of ${repo.location} is running (${holder.who}); a backup made with the key it replaces stays under that key and the rekey reports it as remaining: run the rekey again after it`,
  );
}

async function scheduled(options: {
  configFile: string | undefined;
  schedule: string;
  metricsListen: string | undefined;
  target: ReturnType<typeof resolveDbTarget>;
  repo: BackupRepository;
  key: Awaited<ReturnType<typeof loadKey>>;
  compression: number;
  jobs: number;
  pgBin: string | undefined;
  policy: RetentionPolicy;
}): Promise<number> {
  const schedule = parseCron(options.schedule);
  // With -c and an audit section, every run is an admin.backup.run record in the audit trail.
  const trail = openRunAudit(options.configFile);
  const logger = createLogger({ level: "info", sync: true });
  const metrics = new BackupMetrics();
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  if (options.metricsListen !== undefined) {
    const match = /^(.+):(\d{1,5})$/.exec(options.metricsListen);
    if (!match || Number(match[2]) > 65535) {
      throw new BulwarkError(
        "usage",
        `--metrics-listen expects HOST:PORT such as 127.0.0.1:9187, got ${JSON.stringify(options.metricsListen)}`,
      );
    }
    try {
      metricsServer = await serveMetrics(metrics, match[1]!.replace(/^\[|\]$/g, ""), Number(match[2]));
    } catch (error) {
      throw new BulwarkError(
        "listen_failed",
        `cannot listen on ${options.metricsListen} for metrics: ${(error as Error).message}`,
      );
    }
    logger.info({ address: metricsServer.address }, "metrics listening");
  }
  const prune = hasRules(options.policy)
    ? async () => (await pruneRepository(options.repo, options.policy)).plan
    : undefined;
  say(
    `backing up ${options.target.display} into ${options.repo.location} on schedule ${JSON.stringify(options.schedule)} (UTC); logs are JSON lines on stdout`,
  );
  try {
    const { interrupted } = await withInterrupt("stopping the schedule", (signal) =>
      runSchedule({
        schedule,
        signal,
        logger,
        metrics,
        prune,
        audit: trail,
        backup: (runSignal) =>
          createBackup({
            target: options.target,
            repo: options.repo,
            key: options.key,
            compression: options.compression,
            jobs: options.jobs,
            pgBin: options.pgBin,
            signal: runSignal,
          }),
      }),
    );
    return interrupted ? ExitCode.Interrupted : ExitCode.Ok;
  } finally {
    metricsServer?.server.close();
    await trail?.close();
  }
}

async function listBase(root: BackupRepository, json: boolean): Promise<number> {
  const repo = baseRepository(root.store);
  const { backups, incomplete } = await repo.list();
  if (json) {
    printJson({ repository: repo.location, backups, incomplete });
    return ExitCode.Ok;
  }
  if (backups.length === 0) say(`no complete base backups in ${repo.location}`);
  else {
    say(
      `${"id".padEnd(24)} ${"finished".padEnd(24)} ${"size".padStart(10)}  ${"WAL from".padEnd(24)}  archive_mode`,
    );
    for (const manifest of [...backups].reverse()) {
      say(
        `${manifest.id.padEnd(24)} ${manifest.finishedAt.padEnd(24)} ${formatBytes(manifest.size).padStart(10)}  ${manifest.walStartSegment.padEnd(24)}  ${manifest.archiveMode}`,
      );
    }
  }
  for (const entry of incomplete) say(`incomplete base ${entry.id}: ${entry.reason}`);
  return ExitCode.Ok;
}

/**
 * With --key-file: each manifest's MAC under that key (list and show read manifests without
 * the key otherwise, so a manifest changed in the repository shows only at restore or drill).
 */
async function macStatuses(
  keyFile: string | undefined,
  manifests: readonly Manifest[],
): Promise<Map<string, MacStatus> | undefined> {
  if (keyFile === undefined) return undefined;
  const key = await readKeyFile(resolve(keyFile));
  const statuses = await Promise.all(manifests.map((manifest) => macStatus(manifest, key)));
  return new Map(manifests.map((manifest, index) => [manifest.id, statuses[index]!]));
}

function reportInvalid(statuses: Map<string, MacStatus> | undefined): number {
  const invalid = [...(statuses ?? [])].filter(([, status]) => status === "invalid").map(([id]) => id);
  for (const id of invalid)
    say(`INVALID   the manifest of ${id} failed authentication: it was changed after the backup`);
  return invalid.length > 0 ? ExitCode.Failed : ExitCode.Ok;
}

async function list(argv: readonly string[]): Promise<number> {
  const { values } = parseFlags("backup", argv, {
    ...COMMON,
    base: { type: "boolean" },
    "key-file": { type: "string" },
  });
  const json = jsonFormat(values.format);
  const repo = repositoryFrom(values.repo, backupSection(values.config), "backup");
  if (values.base) {
    if (values["key-file"] !== undefined)
      throw new BulwarkError("usage", "--key-file applies to logical backups, not --base");
    return listBase(repo, json);
  }
  const { backups, incomplete } = await repo.list();
  // One read per backup; concurrent, as each is a request on an S3 repository.
  const records = await Promise.all(backups.map((manifest) => repo.readVerified(manifest.id)));
  const verified = new Map(backups.map((manifest, index) => [manifest.id, records[index] ?? null]));
  const macs = await macStatuses(values["key-file"], backups);
  if (json) {
    printJson({
      repository: repo.location,
      backups: backups.map((manifest) => ({
        ...manifest,
        verified: verified.get(manifest.id),
        ...(macs ? { macCheck: macs.get(manifest.id) } : {}),
      })),
      incomplete,
    });
    return reportInvalid(macs);
  }
  if (backups.length === 0) say(`no complete backups in ${repo.location}`);
  else {
    say(
      `${"id".padEnd(24)} ${"database".padEnd(16)} ${"snapshot".padEnd(24)} ${"size".padStart(10)}  tables  verified${macs ? "  mac" : ""}`,
    );
    for (const manifest of [...backups].reverse()) {
      const mac = macs ? `  ${macs.get(manifest.id) === "invalid" ? "INVALID" : macs.get(manifest.id)}` : "";
      say(
        `${manifest.id.padEnd(24)} ${manifest.database.padEnd(16)} ${manifest.snapshot.takenAt.padEnd(24)} ${formatBytes(manifest.size).padStart(10)}  ${String(manifest.tables.length).padStart(6)}  ${(verified.get(manifest.id) ? "yes" : "no").padEnd(8)}${mac}`,
      );
    }
  }
  for (const entry of incomplete) {
    say(
      `incomplete ${entry.id}: ${entry.reason}${entry.live ? " (being written)" : " (removed by `bulwark backup prune`)"}`,
    );
  }
  return reportInvalid(macs);
}

async function show(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "backup",
    argv,
    { ...COMMON, "key-file": { type: "string" } },
    true,
  );
  if (positionals.length !== 1)
    throw new BulwarkError("usage", "give one backup id (or latest): bulwark backup show ID");
  const json = jsonFormat(values.format);
  const repo = repositoryFrom(values.repo, backupSection(values.config), "backup");
  const manifest = await repo.find(positionals[0]!);
  const verified = await repo.readVerified(manifest.id);
  const macs = await macStatuses(values["key-file"], [manifest]);
  const mac = macs?.get(manifest.id);
  if (json) printJson({ ...manifest, verified: verified ?? null, ...(mac ? { macCheck: mac } : {}) });
  else {
    say(describe(manifest, verified !== undefined).join("\n"));
    if (mac) say(`  mac         ${mac === "invalid" ? "INVALID" : mac} (key ${manifest.encryption.keyId})`);
  }
  return reportInvalid(macs);
}

async function prune(argv: readonly string[]): Promise<number> {
  const { values } = parseFlags("backup", argv, {
    ...COMMON,
    "dry-run": { type: "boolean" },
    "keep-last": { type: "string" },
    "keep-daily": { type: "string" },
    "keep-weekly": { type: "string" },
    "keep-monthly": { type: "string" },
    "max-age": { type: "string" },
  });
  const json = jsonFormat(values.format);
  const section = backupSection(values.config);
  const repo = repositoryFrom(values.repo, section, "backup");
  const policy = retentionFrom(section, {
    keepLast: values["keep-last"],
    keepDaily: values["keep-daily"],
    keepWeekly: values["keep-weekly"],
    keepMonthly: values["keep-monthly"],
    maxAgeMs: values["max-age"],
  });
  const dryRun = values["dry-run"] === true;
  const { plan, basePlan } = await pruneRepository(repo, policy, { dryRun });
  if (json) {
    printJson({ dryRun, ...plan, base: basePlan ?? null });
    return ExitCode.Ok;
  }
  const verb = dryRun ? "would remove" : "removed";
  for (const kept of plan.decision.keep) say(`keep   ${kept.id}  (${kept.reasons.join(", ")})`);
  for (const id of plan.decision.remove) say(`${verb} ${id}`);
  for (const id of plan.abandoned) say(`${verb} ${id} (incomplete)`);
  if (plan.protectedId) {
    say(
      `newest verified backup ${plan.protectedId} (by ${plan.protectedBy === "drill" ? "a passing drill" : "its SHA-256"}) is always kept`,
    );
  }
  if (basePlan) {
    for (const kept of basePlan.decision.keep) say(`keep   base ${kept.id}  (${kept.reasons.join(", ")})`);
    for (const id of [...basePlan.decision.remove, ...basePlan.abandoned]) say(`${verb} base ${id}`);
    say(
      `${verb} ${basePlan.wal.length} archived WAL file${basePlan.wal.length === 1 ? "" : "s"} older than the oldest kept base backup`,
    );
  }
  say(
    `${plan.decision.keep.length} kept, ${plan.decision.remove.length + plan.abandoned.length} ${verb}${dryRun ? " (dry run)" : ""}`,
  );
  return ExitCode.Ok;
}

async function keygen(argv: readonly string[]): Promise<number> {
  const { values } = parseFlags("backup", argv, {
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (!values.out) throw new BulwarkError("usage", "bulwark backup keygen needs --out FILE");
  const key = generateKeyFile(resolve(values.out));
  say(`created key ${key.id} in ${values.out} (mode 0600)`);
  say(
    "store a copy off this machine (a password manager or secret store): backups cannot be restored without it",
  );
  return ExitCode.Ok;
}

async function rekey(argv: readonly string[]): Promise<number> {
  const { values } = parseFlags("backup", argv, {
    ...COMMON,
    "key-file": { type: "string" },
    "new-key-file": { type: "string" },
    "new-passphrase-file": { type: "string" },
    "dry-run": { type: "boolean" },
  });
  const json = jsonFormat(values.format);
  const section = backupSection(values.config);
  const repo = repositoryFrom(values.repo, section, "backup");
  const oldKey = await loadKey(values["key-file"], section, "backup");
  const newKey = await loadNewKey(values["new-key-file"], values["new-passphrase-file"]);
  const dryRun = values["dry-run"] === true;
  const progress = progressLine();
  const result = await withInterrupt(
    "interrupted; stopping after cleaning up the item in progress",
    (signal) => {
      // Said once Ctrl-C is handled: from here on it stops the rekey cleanly.
      say(
        `${dryRun ? "planning the re-encryption of" : "re-encrypting"} ${repo.location}: key ${oldKey.id} → ${newKey.id}`,
      );
      return rekeyRepository({
        store: repo.store,
        oldKey,
        newKey,
        dryRun,
        signal,
        onProgress: (p) => progress.update(formatRekeyProgress(p)),
        onEvent: (line) => {
          progress.finish();
          say(line);
        },
      }).finally(() => progress.finish());
    },
  );
  say(describeRekey(result).join("\n"));
  if (json) printJson(result);
  if (result.interrupted) return ExitCode.Interrupted;
  return result.complete || result.dryRun ? ExitCode.Ok : ExitCode.Failed;
}

const SUBCOMMANDS: Record<string, (argv: readonly string[]) => Promise<number>> = {
  list,
  show,
  prune,
  keygen,
  rekey,
};

export const backupCommand: Command = {
  name: "backup",
  help: HELP,
  async run(argv) {
    const first = argv[0];
    if (first !== undefined && !first.startsWith("-") && SUBCOMMANDS[first])
      return SUBCOMMANDS[first](argv.slice(1));
    return takeBackup(argv);
  },
};
