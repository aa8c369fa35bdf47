/**
 * `bulwark drill restore`: a restore drill with evidence. Wiring only: the logic is in
 * src/backup/drill.ts and drill-report.ts.
 */
import { resolve } from "node:path";
import { backupSection, jobsFrom, loadKey, repositoryFrom } from "../../backup/config.js";
import { resolveDbTarget } from "../../backup/connection.js";
import { runDrill } from "../../backup/drill.js";
import { renderSummary, writeEvidence } from "../../backup/drill-report.js";
import { withLocalCopies } from "../../backup/local-copy-store.js";
import { isSplit } from "../../backup/manifest.js";
import { formatBytes, progressLine, withInterrupt } from "../../backup/progress.js";
import { BackupRepository } from "../../backup/repository.js";
import { parseDuration } from "../../config/units.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { type Command, parseFlags, say, warn } from "../command.js";

const HELP = `usage: bulwark drill restore [--id ID] --db URL --repo DIR --key-file FILE [options]

Restore drill (docs/disaster-recovery.md): restores the latest (or --id) backup into a scratch
database on the --db server, checks every table's row count and content checksum against the
manifest, runs the --assert queries, measures RTO by phase (fetch, decrypt, restore, verify)
and RPO (age of the restored snapshot at the drill, or at --incident-time), compares them
with the objectives, drops the scratch database (also on failure), and writes JSON and
Markdown evidence. A passing drill marks the backup verified (prune always keeps the newest).

  --id ID             backup to drill (default: latest)
  --db URL            server to create the scratch database on, postgres://user@host:port/db
                      (the role needs CREATEDB; default backup.db, DATABASE_URL, PG*)
  --assert SQL        a query returning one row whose first column is true, run in the
                      restored database; repeatable (backup.drill.assertions)
  --rto D             recovery time objective, e.g. 4h (backup.drill.rto)
  --rpo D             recovery point objective, e.g. 24h (backup.drill.rpo)
  --incident-time T   ISO 8601 time data was lost: RPO is measured to it instead of now
  --evidence-dir DIR  where drill-<time>.json and .md go (default .bulwark/evidence)
  --no-evidence       do not write evidence files
  --jobs N            pg_restore processes at once for a split backup, 1..64 (backup.jobs;
                      default 1); a single-artifact backup restores with one
  --format json       print the report as JSON on stdout
  -c, --config FILE   read settings from the \`backup:\` section of FILE (flags win)
  --repo DIR|s3://BUCKET/PREFIX, --key-file FILE, --pg-bin DIR   as for \`bulwark backup\`

exit codes: 0 drill passed, 1 drill failed (a table or assertion differs, an objective is
missed, the backup cannot be restored: wrong key, corrupt, truncated), 2 usage or config
error, 3 runtime failure (server unreachable, scratch database not creatable),
130 interrupted.`;

export const drillCommand: Command = {
  name: "drill",
  help: HELP,
  async run(argv) {
    if (argv[0] !== "restore") {
      throw new BulwarkError(
        "usage",
        `unknown drill ${JSON.stringify(argv[0] ?? "")}; expected \`bulwark drill restore\``,
      );
    }
    const { values, positionals } = parseFlags("drill", argv.slice(1), {
      id: { type: "string" },
      db: { type: "string" },
      assert: { type: "string", multiple: true },
      rto: { type: "string" },
      rpo: { type: "string" },
      "incident-time": { type: "string" },
      "evidence-dir": { type: "string" },
      "no-evidence": { type: "boolean" },
      jobs: { type: "string" },
      format: { type: "string" },
      config: { type: "string", short: "c" },
      repo: { type: "string" },
      "key-file": { type: "string" },
      "pg-bin": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (positionals.length > 0)
      throw new BulwarkError("usage", `unexpected argument ${JSON.stringify(positionals[0])}`);
    if (values.format !== undefined && values.format !== "json" && values.format !== "text") {
      throw new BulwarkError("usage", `--format must be json or text, got ${JSON.stringify(values.format)}`);
    }
    const section = backupSection(values.config);
    const duration = (flag: "rto" | "rpo"): number | undefined => {
      const text = values[flag];
      if (text === undefined) return section.drill?.[flag];
      const ms = parseDuration(text);
      if (ms === undefined)
        throw new BulwarkError(
          "usage",
          `--${flag} expects a duration such as 30m, 4h or 1d, got ${JSON.stringify(text)}`,
        );
      return ms;
    };
    let incidentTime: Date | undefined;
    if (values["incident-time"] !== undefined) {
      incidentTime = new Date(values["incident-time"]);
      if (Number.isNaN(incidentTime.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(values["incident-time"])) {
        throw new BulwarkError(
          "usage",
          `--incident-time expects an ISO 8601 time such as 2026-11-26T09:30:00Z, got ${JSON.stringify(values["incident-time"])}`,
        );
      }
    }
    const jobs = jobsFrom(values.jobs, section);
    const rtoObjectiveMs = duration("rto");
    const rpoObjectiveMs = duration("rpo");
    const repo = repositoryFrom(values.repo, section, "drill");
    const manifest = await repo.find(values.id ?? "latest");
    const key = await loadKey(values["key-file"], section, "drill");
    const server = resolveDbTarget(values.db ?? section.db, { password: section.password });
    const assertions = [...(section.drill?.assertions ?? []), ...(values.assert ?? [])];
    say(
      `drill: restoring backup ${manifest.id} (${manifest.database}) into a scratch database on ${server.display}`,
    );
    if (jobs > 1 && !isSplit(manifest)) {
      say(
        `note: backup ${manifest.id} is a single artifact (taken without --jobs): it is restored by one pg_restore, in one transaction`,
      );
    }
    const progress = progressLine();
    const report = await withLocalCopies(repo.store, { onWarning: warn, bytes: manifest.size }, (store) =>
      withInterrupt("interrupted; dropping the scratch database", (signal) =>
        runDrill({
          repo: new BackupRepository(store),
          manifest,
          key,
          server,
          assertions,
          rtoObjectiveMs,
          rpoObjectiveMs,
          incidentTime,
          pgBin: values["pg-bin"] ?? section.pgBin,
          jobs,
          signal,
          onProgress: (p) =>
            progress.update(
              "table" in p
                ? `  verify ${p.table}`
                : `  ${p.phase} ${formatBytes(p.bytes)} of ${formatBytes(p.total)}`,
            ),
        }).finally(() => progress.finish()),
      ),
    );
    say(renderSummary(report));
    if (values["no-evidence"] !== true) {
      const dir = resolve(values["evidence-dir"] ?? section.drill?.evidenceDir ?? ".bulwark/evidence");
      const files = writeEvidence(dir, report);
      say(`  evidence  ${files.json}\n            ${files.markdown}`);
      if (report.ok)
        await repo.markVerified({ id: manifest.id, drilledAt: report.finishedAt, evidence: files.json });
    } else if (report.ok) {
      await repo.markVerified({ id: manifest.id, drilledAt: report.finishedAt });
    }
    if (values.format === "json") process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? ExitCode.Ok : ExitCode.Failed;
  },
};
