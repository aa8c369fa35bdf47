/**
 * `bulwark restore ID|latest --to DSN`: verify, decrypt and restore one backup. Wiring only:
 * the logic is in src/backup/restore-backup.ts.
 */

import { resolve } from "node:path";
import { restorePointInTime } from "../../backup/base-backup.js";
import { backupSection, jobsFrom, loadKey, loadKeys, repositoryFrom } from "../../backup/config.js";
import { resolveDbTarget } from "../../backup/connection.js";
import { formatMs } from "../../backup/drill.js";
import { withLocalCopies } from "../../backup/local-copy-store.js";
import { isSplit } from "../../backup/manifest.js";
import { formatBytes, progressLine, withInterrupt } from "../../backup/progress.js";
import { BackupRepository } from "../../backup/repository.js";
import { restoreBackup } from "../../backup/restore-backup.js";
import { isS3Location } from "../../backup/s3-settings.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { type Command, parseFlags, say, warn } from "../command.js";

const HELP = `usage: bulwark restore ID|latest --to URL --repo DIR --key-file FILE [--clean] [--jobs N] [options]
       bulwark restore [BASE-ID|latest] --data-dir DIR [--to-time T] --repo DIR --key-file FILE [--key-file FILE]…

Restores a backup (docs/disaster-recovery.md). Before the target is touched, the manifest's
HMAC is checked, every artifact's size and SHA-256 are checked against it, and every chunk is
decrypted and authenticated; a wrong key, a tampered, truncated or missing artifact stops here. Then
the artifact is decrypted into pg_restore's stdin (plaintext never touches disk), in one
transaction: if pg_restore fails, the target is left as it was.

  --to URL            target database, postgres://user@host:port/db; it must exist and be
                      empty unless --clean (password: PGPASSWORD / PGPASSFILE, never in argv)
  --clean             drop and replace the objects the backup holds (pg_restore --clean
                      --if-exists); other objects in the target are left alone
  --no-owner          do not restore ownership and privileges (target without the same roles)
  --jobs N            pg_restore processes at once for a split backup (\`backup --jobs\`), 1..64
                      (backup.jobs; default 1): schema, then the data artifacts in parallel,
                      then indexes and keys in parallel, then foreign keys and the rest. Not one
                      transaction: if it fails after the schema step, the target holds a partial
                      restore (drop it, or restore again with --clean). A single-artifact backup
                      restores as always (one process, one transaction)
  -c, --config FILE   read repo, keyFile/passphrase and pgBin from the \`backup:\` section
  --repo DIR|s3://BUCKET/PREFIX   repository (a directory or an S3 bucket; S3 settings and
                      credentials as for \`bulwark backup\`)
  --key-file FILE     encryption key the backup was made with; with --data-dir, give it
                      once per key during a key rotation (\`bulwark backup rekey\`): the base
                      backup is opened with the key it names, and restore_command passes every
                      key file to \`wal fetch\`, which reads each WAL file with the key it names
  --pg-bin DIR        directory of pg_restore

Point-in-time recovery: --data-dir restores a base backup (\`bulwark backup --base\`) into a new,
empty data directory and configures recovery: restore_command fetches archived WAL with
\`bulwark wal fetch\`, and with --to-time T (ISO 8601) replay stops at T and the server promotes.
Without a BASE-ID, the newest base backup finished before T is used. Start PostgreSQL on the
directory as its user to run the recovery.

exit codes: 0 restored, 1 refused (target not empty), 2 usage or config error, 3 runtime
failure (wrong key, corrupt or truncated artifact, missing manifest, pg_restore failed),
130 interrupted (the target is left unchanged, except a split backup's partial restore).`;

async function pointInTime(
  values: {
    config?: string;
    repo?: string;
    "key-file"?: string[];
    "data-dir"?: string;
    "to-time"?: string;
    to?: string;
    clean?: boolean;
  },
  positionals: readonly string[],
): Promise<number> {
  if (!values["data-dir"])
    throw new BulwarkError(
      "usage",
      "--to-time restores a base backup into a new data directory: give --data-dir DIR",
    );
  if (values.to !== undefined || values.clean)
    throw new BulwarkError(
      "usage",
      "--data-dir restores a whole cluster; --to and --clean are for logical backups",
    );
  if (positionals.length > 1)
    throw new BulwarkError("usage", "give at most one base backup id (default: latest)");
  let targetTime: Date | undefined;
  if (values["to-time"] !== undefined) {
    targetTime = new Date(values["to-time"]);
    if (Number.isNaN(targetTime.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(values["to-time"])) {
      throw new BulwarkError(
        "usage",
        `--to-time expects an ISO 8601 time such as 2026-11-26T09:30:00Z, got ${JSON.stringify(values["to-time"])}`,
      );
    }
  }
  const section = backupSection(values.config);
  const repo = repositoryFrom(values.repo, section, "restore");
  const key = await loadKeys(values["key-file"], section, "restore");
  // restore_command runs `bulwark wal fetch` as the server's user, with the same repository and
  // keys (every --key-file, during a key rotation: WAL archived under the old and the new key);
  // an S3 repository's settings and credentials come from the config file (or the server's
  // environment), never from the command line.
  const keyFiles = values["key-file"]?.length ? values["key-file"] : section.keyFile ? [section.keyFile] : [];
  const fetchFlags = ["--repo", repo.location, ...keyFiles.flatMap((file) => ["--key-file", resolve(file)])];
  if (values.config && (keyFiles.length === 0 || isS3Location(repo.location)))
    fetchFlags.push("-c", resolve(values.config));
  const dataDir = resolve(values["data-dir"]);
  const manifest = await withLocalCopies(repo.store, { onWarning: warn }, (store) =>
    restorePointInTime({
      store,
      key,
      id: positionals[0] ?? "latest",
      dataDir,
      targetTime,
      bulwarkArgv: [process.execPath, resolve(process.argv[1]!)],
      fetchFlags,
    }),
  );
  say(`restored base backup ${manifest.id} (${manifest.finishedAt}) into ${dataDir}`);
  say(
    targetTime
      ? `recovery will replay archived WAL up to ${targetTime.toISOString()} and promote; start the server on it:`
      : "recovery will replay all archived WAL and promote; start the server on it:",
  );
  say(`  chown -R postgres: ${dataDir} && pg_ctl -D ${dataDir} start   (as the server's user)`);
  return ExitCode.Ok;
}

export const restoreCommand: Command = {
  name: "restore",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseFlags(
      "restore",
      argv,
      {
        to: { type: "string" },
        clean: { type: "boolean" },
        "no-owner": { type: "boolean" },
        jobs: { type: "string" },
        config: { type: "string", short: "c" },
        repo: { type: "string" },
        "key-file": { type: "string", multiple: true },
        "pg-bin": { type: "string" },
        "data-dir": { type: "string" },
        "to-time": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      true,
    );
    if (values["data-dir"] !== undefined || values["to-time"] !== undefined) {
      if (values.jobs !== undefined)
        throw new BulwarkError("usage", "--jobs is for logical backups, not --data-dir");
      return pointInTime(values, positionals);
    }
    if (positionals.length !== 1) {
      throw new BulwarkError("usage", "give one backup id or latest: bulwark restore ID|latest --to URL");
    }
    if (!values.to) throw new BulwarkError("usage", "bulwark restore needs --to URL (the target database)");
    const keyFiles = values["key-file"] ?? [];
    if (keyFiles.length > 1) {
      throw new BulwarkError(
        "usage",
        "--key-file is given once for a logical restore (the key the backup was made with); several are for --data-dir during a key rotation",
      );
    }
    const section = backupSection(values.config);
    const jobs = jobsFrom(values.jobs, section);
    const repo = repositoryFrom(values.repo, section, "restore");
    const manifest = await repo.find(positionals[0]!);
    const key = await loadKey(keyFiles[0], section, "restore");
    const target = resolveDbTarget(values.to, { what: "--to" });
    say(
      `restoring backup ${manifest.id} (${manifest.database}, snapshot ${manifest.snapshot.takenAt}) into ${target.display}`,
    );
    const split = isSplit(manifest);
    if (jobs > 1 && !split) {
      say(
        `note: backup ${manifest.id} is a single artifact (taken without --jobs): it is restored by one pg_restore, in one transaction`,
      );
    }
    const progress = progressLine();
    const interrupted = split ? "interrupted; stopping the restore" : "interrupted; rolling back the restore";
    const timings = await withLocalCopies(repo.store, { onWarning: warn, bytes: manifest.size }, (store) =>
      withInterrupt(interrupted, (signal) =>
        restoreBackup({
          repo: new BackupRepository(store),
          manifest,
          key,
          target,
          clean: values.clean === true,
          noOwner: values["no-owner"] === true,
          jobs,
          pgBin: values["pg-bin"] ?? section.pgBin,
          signal,
          onProgress: (p) =>
            progress.update(`  ${p.phase} ${formatBytes(p.bytes)} of ${formatBytes(p.total)}`),
        }).finally(() => progress.finish()),
      ),
    );
    say(
      `restored backup ${manifest.id} into ${target.display}: fetch ${formatMs(timings.fetchMs)}, decrypt ${formatMs(timings.decryptMs)}, restore ${formatMs(timings.restoreMs)}`,
    );
    return ExitCode.Ok;
  },
};
