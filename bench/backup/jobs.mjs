#!/usr/bin/env node
// Parallel backup and restore benchmark (`--jobs`) on the pgbench database of about 1 GB
// (bench/backup/database.mjs): `bulwark backup --jobs 1` against `--jobs 2` against the peer,
// plain `pg_dump -Fd -j 2` to a directory; then restoring each into a fresh database:
// `bulwark restore --jobs 1` (a single-artifact backup) against `bulwark restore --jobs 2` (the
// split backup) against `pg_restore -j 2` of the directory. Rounds are interleaved so background
// load hits every variant alike; medians and ratios against --jobs 1 are printed and written to
// bench/results/backup-jobs-<timestamp>.json. With --partitions N, the same on a second database,
// `bench_p<N>`, where pgbench_accounts is split into N range partitions (pgbench --partitions):
// tables a split backup can spread over its streams, unlike the one big table of plain pgbench.
//
//   npm run build && node bench/backup/jobs.mjs [--rounds 3] [--jobs 2] [--partitions 4]
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureBenchData, PG_BIN, SCALE, startBenchServer } from "./database.mjs";
import { timed } from "./measure.mjs";
import { benchSession, bulwarkArgs, medians, roundLine, seconds, writeResults } from "./session.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    jobs: { type: "string", default: "2" },
    partitions: { type: "string", default: "0" },
  },
});
const rounds = Number(values.rounds);
const jobs = Number(values.jobs);
const partitions = Number(values.partitions);
const database = partitions > 0 ? `bench_p${partitions}` : "bench";

const server = await startBenchServer();
const work = mkdtempSync(join(tmpdir(), "bulwark-bench-jobs-"));
try {
  const databaseBytes = ensureBenchData(server, { database, partitions });
  const { env, keyFile, url } = benchSession(server, database, work);
  const repoOne = join(work, "repo-1");
  const repoMany = join(work, `repo-${jobs}`);
  const dumpDir = join(work, "plain.dir");
  const dbUrl = url();
  const targetUrl = url("bench_restore");
  const labels = {
    backupOne: "bulwark backup --jobs 1",
    backupMany: `bulwark backup --jobs ${jobs}`,
    plainDumpDir: `pg_dump -Fd -j ${jobs} -f DIR`,
    restoreOne: "bulwark restore --jobs 1",
    restoreMany: `bulwark restore --jobs ${jobs}`,
    plainRestoreDir: `pg_restore -j ${jobs} -d DB DIR`,
  };
  const results = Object.fromEntries(Object.keys(labels).map((name) => [name, []]));
  const backup = (repo, n) =>
    timed(
      process.execPath,
      bulwarkArgs(["backup", "--db", dbUrl], repo, keyFile, ["--jobs", String(n)]),
      env,
    );
  const freshTarget = () => {
    server.psql("postgres", "drop database if exists bench_restore");
    server.psql("postgres", "create database bench_restore");
  };
  const restore = (repo, n) =>
    timed(
      process.execPath,
      bulwarkArgs(["restore", "latest", "--to", targetUrl], repo, keyFile, ["--jobs", String(n)]),
      env,
    );

  console.error(
    `database ${database}: pgbench -s ${SCALE}${partitions > 0 ? ` --partitions=${partitions}` : ""}, ${(databaseBytes / 1024 ** 3).toFixed(2)} GiB; ${rounds} rounds; --jobs ${jobs}; ${cpus().length} CPUs`,
  );
  for (let round = 1; round <= rounds; round++) {
    rmSync(repoOne, { recursive: true, force: true });
    rmSync(repoMany, { recursive: true, force: true });
    rmSync(dumpDir, { recursive: true, force: true });
    results.backupOne.push(await backup(repoOne, 1));
    results.backupMany.push(await backup(repoMany, jobs));
    results.plainDumpDir.push(
      await timed(join(PG_BIN, "pg_dump"), ["-Fd", "-j", String(jobs), "-f", dumpDir, database], env),
    );
    freshTarget();
    results.restoreOne.push(await restore(repoOne, 1));
    freshTarget();
    results.restoreMany.push(await restore(repoMany, jobs));
    freshTarget();
    results.plainRestoreDir.push(
      await timed(join(PG_BIN, "pg_restore"), ["-j", String(jobs), "-d", "bench_restore", dumpDir], env),
    );
    console.error(roundLine(round, results));
  }
  server.psql("postgres", "drop database if exists bench_restore");

  const summary = medians(results, ["wallMs", "cpuMs", "foreignCpuPercent"]);
  const base = { backupOne: "backupOne", backupMany: "backupOne", plainDumpDir: "backupOne" };
  const baseOf = (name) => base[name] ?? "restoreOne";
  console.log(
    `\npgbench -s ${SCALE}${partitions > 0 ? ` --partitions=${partitions}` : ""} (${(databaseBytes / 1024 ** 3).toFixed(2)} GiB), medians of ${rounds} rounds, ${cpus().length} CPUs shared\n`,
  );
  console.log("| run                            | wall      | vs --jobs 1 | CPU       | others' CPU |");
  console.log("| ------------------------------ | --------- | ----------- | --------- | ----------- |");
  for (const name of Object.keys(labels)) {
    const ratio = summary[name].wallMs / summary[baseOf(name)].wallMs;
    console.log(
      `| ${labels[name].padEnd(30)} | ${seconds(summary[name].wallMs).padStart(9)} | ${`${ratio.toFixed(2)}×`.padStart(11)} | ${seconds(summary[name].cpuMs).padStart(9)} | ${`${summary[name].foreignCpuPercent}%`.padStart(11)} |`,
    );
  }
  const file = writeResults("backup-jobs", {
    kind: "bench-backup-jobs",
    scale: SCALE,
    partitions,
    databaseBytes,
    rounds,
    jobs,
    cpus: cpus().length,
    runs: results,
    summary,
  });
  console.error(`wrote ${file}`);
} finally {
  rmSync(work, { recursive: true, force: true });
  await server.stop();
}
