// What the backup benchmarks (run.mjs, jobs.mjs) share besides measuring one command
// (measure.mjs): the libpq environment and a key file for the bench server, the argv of a
// `bulwark` command against a repository, the per-round progress line, the medians of the rounds
// and the results file in bench/results/.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PG_BIN } from "./database.mjs";
import { median } from "./measure.mjs";

const here = dirname(fileURLToPath(import.meta.url));

export const BULWARK = resolve(here, "../../bin/bulwark.js");

/**
 * The environment every command of a benchmark runs with (libpq variables for the bench server,
 * no DATABASE_URL), and a fresh random key file in `work`.
 */
export function benchSession(server, database, work) {
  const env = {
    ...process.env,
    PGHOST: "127.0.0.1",
    PGPORT: String(server.port),
    PGUSER: "postgres",
    PGPASSWORD: server.password,
    PGDATABASE: database,
  };
  delete env.DATABASE_URL;
  const keyFile = join(work, "bench.key");
  writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
  return { env, keyFile, url: (name = database) => `postgres://postgres@127.0.0.1:${server.port}/${name}` };
}

/** argv (for process.execPath) of `bulwark <command…> --repo REPO --key-file KEY --pg-bin … <extra…>`. */
export function bulwarkArgs(command, repo, keyFile, extra = []) {
  return [BULWARK, ...command, "--repo", repo, "--key-file", keyFile, "--pg-bin", PG_BIN, ...extra];
}

/** One line per round: each variant's last wall time, CPU time and others' CPU share. */
export function roundLine(round, results) {
  return `round ${round}: ${Object.entries(results)
    .map(
      ([name, list]) =>
        `${name} ${(list.at(-1).wallMs / 1000).toFixed(2)}s (cpu ${(list.at(-1).cpuMs / 1000).toFixed(2)}s, others ${list.at(-1).foreignCpuPercent}%)`,
    )
    .join(", ")}`;
}

/** Per variant, the median of each of `fields` over the rounds. */
export function medians(results, fields) {
  const summary = {};
  for (const [name, list] of Object.entries(results))
    summary[name] = Object.fromEntries(fields.map((field) => [field, median(list.map((run) => run[field]))]));
  return summary;
}

export const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** Writes bench/results/<prefix>-<time>.json and returns its path. */
export function writeResults(prefix, document) {
  const resultsDir = resolve(here, "../results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(
    resultsDir,
    `${prefix}-${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}Z.json`,
  );
  writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  return file;
}
