#!/usr/bin/env node
// Backup benchmark: `bulwark backup` against plain `pg_dump -Fc` to a file, and `bulwark drill
// restore` (fetch, decrypt, restore, verify, scratch database created and dropped) against plain
// `pg_restore` from a file, on a pgbench database of about 1 GB (bench/backup/database.mjs,
// generated once and reused). Rounds are interleaved (plain, bulwark, plain, bulwark, …) so
// background load hits both alike; medians and ratios are printed and written to
// bench/results/backup-<timestamp>.json. A compression phase compares pg_dump's own -Z levels with
// -Z0 piped through Node's zlib and brotli.
//
//   npm run build && node bench/backup/run.mjs [--rounds 3] [--no-compression]
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { createBrotliCompress, createGzip, constants as zlib } from "node:zlib";
import { ensureBenchData, PG_BIN, SCALE, startBenchServer } from "./database.mjs";
import { CLOCK_TICKS, cpuTicks, timed } from "./measure.mjs";
import { benchSession, bulwarkArgs, medians, roundLine, seconds, writeResults } from "./session.mjs";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, "no-compression": { type: "boolean" } },
});
const rounds = Number(values.rounds);

const server = await startBenchServer();
const work = mkdtempSync(join(tmpdir(), "bulwark-bench-backup-"));
try {
  const databaseBytes = ensureBenchData(server);
  const { env, keyFile, url } = benchSession(server, "bench", work);
  const repo = join(work, "repo");
  const dumpFile = join(work, "plain.dump");
  const dbUrl = url();
  const serverUrl = url("postgres");
  const results = {
    plainDump: [],
    bulwarkBackup: [],
    bulwarkBackupZ6: [],
    plainRestore: [],
    bulwarkDrill: [],
  };
  const labels = {
    plainDump: "pg_dump -Fc -f FILE (-Z6)",
    bulwarkBackup: "bulwark backup (-Z1, default)",
    bulwarkBackupZ6: "bulwark backup --compress 6",
    plainRestore: "pg_restore -d DB FILE",
    bulwarkDrill: "bulwark drill restore",
  };
  const backupArgs = (extra) => bulwarkArgs(["backup", "--db", dbUrl], repo, keyFile, extra);

  console.error(
    `database bench: pgbench -s ${SCALE}, ${(databaseBytes / 1024 ** 3).toFixed(2)} GiB; ${rounds} rounds`,
  );
  for (let round = 1; round <= rounds; round++) {
    rmSync(dumpFile, { force: true });
    rmSync(repo, { recursive: true, force: true });
    results.plainDump.push(await timed(join(PG_BIN, "pg_dump"), ["-Fc", "-f", dumpFile, "bench"], env));
    results.bulwarkBackupZ6.push(await timed(process.execPath, backupArgs(["--compress", "6"]), env));
    // The drill below restores the latest backup: the default one, taken last.
    results.bulwarkBackup.push(await timed(process.execPath, backupArgs([]), env));
    server.psql("postgres", "drop database if exists bench_restore");
    server.psql("postgres", "create database bench_restore");
    results.plainRestore.push(
      await timed(join(PG_BIN, "pg_restore"), ["-d", "bench_restore", dumpFile], env),
    );
    server.psql("postgres", "drop database bench_restore");
    results.bulwarkDrill.push(
      await timed(
        process.execPath,
        bulwarkArgs(["drill", "restore", "--db", serverUrl], repo, keyFile, ["--no-evidence"]),
        env,
      ),
    );
    console.error(roundLine(round, results));
  }
  const dumpBytes = statSync(dumpFile).size;

  // Compression: pg_dump's zlib inside its own process against -Z0 piped through Node.
  const compression = [];
  if (!values["no-compression"]) {
    const variants = [
      { name: "pg_dump -Z6 (default)", args: ["-Z", "6"] },
      { name: "pg_dump -Z1", args: ["-Z", "1"] },
      { name: "pg_dump -Z0 | node gzip -6", args: ["-Z", "0"], stream: () => createGzip({ level: 6 }) },
      { name: "pg_dump -Z0 | node gzip -1", args: ["-Z", "0"], stream: () => createGzip({ level: 1 }) },
      {
        name: "pg_dump -Z0 | node brotli q4",
        args: ["-Z", "0"],
        stream: () => createBrotliCompress({ params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } }),
      },
    ];
    for (const variant of variants) {
      const out = join(work, "compression.out");
      const started = performance.now();
      const ticksBefore = cpuTicks();
      const child = spawn(join(PG_BIN, "pg_dump"), ["-Fc", ...variant.args, "bench"], {
        env,
        stdio: ["ignore", "pipe", "inherit"],
      });
      const stages = [child.stdout, ...(variant.stream ? [variant.stream()] : []), createWriteStream(out)];
      await Promise.all([pipeline(stages), new Promise((done) => child.once("close", done))]);
      const ms = performance.now() - started;
      // pg_dump, its backend, and this process (where Node's zlib and brotli run).
      const cpuMs = ((cpuTicks() - ticksBefore) * 1000) / CLOCK_TICKS;
      compression.push({ name: variant.name, ms, cpuMs, bytes: statSync(out).size });
      console.error(
        `compression: ${variant.name}: ${(ms / 1000).toFixed(2)}s wall, ${(cpuMs / 1000).toFixed(2)}s CPU, ${(statSync(out).size / 1024 ** 2).toFixed(1)} MiB`,
      );
      rmSync(out, { force: true });
    }
  }

  const summary = medians(results, ["wallMs", "cpuMs"]);
  const ratio = (name, base, what) => summary[name][what] / summary[base][what];
  const ratios = {
    backup: {
      wall: ratio("bulwarkBackup", "plainDump", "wallMs"),
      cpu: ratio("bulwarkBackup", "plainDump", "cpuMs"),
    },
    backupZ6: {
      wall: ratio("bulwarkBackupZ6", "plainDump", "wallMs"),
      cpu: ratio("bulwarkBackupZ6", "plainDump", "cpuMs"),
    },
    drill: {
      wall: ratio("bulwarkDrill", "plainRestore", "wallMs"),
      cpu: ratio("bulwarkDrill", "plainRestore", "cpuMs"),
    },
  };
  const row = (name, r) =>
    `| ${labels[name].padEnd(30)} | ${seconds(summary[name].wallMs).padStart(9)} | ${r ? `${r.wall.toFixed(2)}×` : "1"} | ${seconds(summary[name].cpuMs).padStart(9)} | ${r ? `${r.cpu.toFixed(2)}×` : "1"} |`;
  console.log(
    `\npgbench -s ${SCALE} (${(databaseBytes / 1024 ** 3).toFixed(2)} GiB, plain dump ${(dumpBytes / 1024 ** 2).toFixed(1)} MiB), medians of ${rounds} rounds\n`,
  );
  console.log("| run                            | wall      | ratio | CPU       | ratio |");
  console.log("| ------------------------------ | --------- | ----- | --------- | ----- |");
  console.log(row("plainDump"));
  console.log(row("bulwarkBackup", ratios.backup));
  console.log(row("bulwarkBackupZ6", ratios.backupZ6));
  console.log(row("plainRestore"));
  console.log(row("bulwarkDrill", ratios.drill));
  console.log(
    `\ntargets ≤ 1.25× (wall): backup ${ratios.backup.wall <= 1.25 ? "met" : "MISSED"}, drill ${ratios.drill.wall <= 1.25 ? "met" : "MISSED"}`,
  );

  const file = writeResults("backup", {
    kind: "bench-backup",
    scale: SCALE,
    databaseBytes,
    dumpBytes,
    rounds,
    cpus: cpus().length,
    runs: results,
    summary,
    ratios,
    compression,
  });
  console.error(`wrote ${file}`);
} finally {
  rmSync(work, { recursive: true, force: true });
  await server.stop();
}
