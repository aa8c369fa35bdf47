#!/usr/bin/env node
// S3 repository benchmark: `bulwark backup` and `bulwark drill restore` with a local-directory
// repository against the same commands with an S3 repository (s3rver, the S3-compatible server
// the tests use, on loopback in this process), on the pgbench database of bench/backup/
// database.mjs. Rounds are interleaved (local, S3, local, S3, …) so background load hits both
// alike; medians and ratios are printed and written to bench/results/backup-s3-<timestamp>.json.
// What this measures is the cost of the S3 path (SDK, SigV4, multipart upload, one download and
// a local copy for a drill) with a store that is as close as it gets: s3rver's own CPU is on the
// same two CPUs, so the S3 figures are an upper bound for the client's work, not a network figure.
//
//   npm run build && node bench/backup/s3.mjs [--rounds 5]
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureBenchData, startBenchServer } from "./database.mjs";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const rounds = Number(values.rounds);
const here = dirname(fileURLToPath(import.meta.url));
const bulwark = resolve(here, "../../bin/bulwark.js");
const S3rver = createRequire(import.meta.url)("s3rver");

async function freePort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

function timed(args, env) {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [bulwark, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0) reject(new Error(`bulwark ${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`));
      else resolvePromise(performance.now() - started);
    });
  });
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

const server = await startBenchServer();
const work = mkdtempSync(join(tmpdir(), "bulwark-bench-s3-"));
const s3Dir = join(work, "s3");
mkdirSync(s3Dir);
const s3Port = await freePort();
const s3 = new S3rver({
  port: s3Port,
  address: "127.0.0.1",
  directory: s3Dir,
  silent: true,
  configureBuckets: [{ name: "bench" }],
});
await s3.run();
try {
  ensureBenchData(server);
  const env = {
    ...process.env,
    PGPASSWORD: server.password,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_ENDPOINT_URL: `http://127.0.0.1:${s3Port}`,
    AWS_REGION: "us-east-1",
  };
  delete env.DATABASE_URL;
  const keyFile = join(work, "bench.key");
  writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
  const dbUrl = `postgres://postgres@127.0.0.1:${server.port}/bench`;
  const serverUrl = `postgres://postgres@127.0.0.1:${server.port}/postgres`;
  const repos = { local: join(work, "repo"), s3: "s3://bench/bulwark" };
  const results = { localBackup: [], s3Backup: [], localDrill: [], s3Drill: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const kind of ["local", "s3"]) {
      const backup = await timed(
        ["backup", "--db", dbUrl, "--repo", repos[kind], "--key-file", keyFile],
        env,
      );
      results[`${kind}Backup`].push(backup);
    }
    for (const kind of ["local", "s3"]) {
      const drill = await timed(
        [
          "drill",
          "restore",
          "--db",
          serverUrl,
          "--repo",
          repos[kind],
          "--key-file",
          keyFile,
          "--no-evidence",
        ],
        env,
      );
      results[`${kind}Drill`].push(drill);
    }
    console.log(
      `round ${round}: backup local ${(results.localBackup.at(-1) / 1000).toFixed(2)} s, S3 ${(results.s3Backup.at(-1) / 1000).toFixed(2)} s; drill local ${(results.localDrill.at(-1) / 1000).toFixed(2)} s, S3 ${(results.s3Drill.at(-1) / 1000).toFixed(2)} s`,
    );
  }
  const summary = {
    backup: {
      localMs: median(results.localBackup),
      s3Ms: median(results.s3Backup),
      ratio: median(results.s3Backup) / median(results.localBackup),
    },
    drill: {
      localMs: median(results.localDrill),
      s3Ms: median(results.s3Drill),
      ratio: median(results.s3Drill) / median(results.localDrill),
    },
  };
  console.log(`\nmedians of ${rounds} rounds (wall):`);
  for (const [name, row] of Object.entries(summary)) {
    console.log(
      `  ${name.padEnd(7)} local ${(row.localMs / 1000).toFixed(2)} s   S3 ${(row.s3Ms / 1000).toFixed(2)} s   ratio ${row.ratio.toFixed(2)}×`,
    );
  }
  const stamp = new Date()
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z");
  const out = resolve(here, `../results/backup-s3-${stamp}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ kind: "bench-backup-s3", rounds, results, summary }, null, 2)}\n`);
  console.log(`\nwritten to ${out}`);
} finally {
  await s3.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
