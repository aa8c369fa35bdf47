// The benchmark database: a PostgreSQL 15 cluster in a fixed directory (default
// /var/tmp/bulwark-bench-backup, or BULWARK_BENCH_PG_DIR) holding a pgbench database of about
// 1 GB (pgbench -i -s 70). It is generated once and reused by later runs, because generating it
// takes minutes. Run as root, the server runs as the `postgres` system user (initdb refuses root).
//
//   node bench/backup/database.mjs            # generate if missing, then stop the server
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";
export const ROOT = process.env.BULWARK_BENCH_PG_DIR ?? "/var/tmp/bulwark-bench-backup";
export const SCALE = Number(process.env.BULWARK_BENCH_SCALE ?? 70);

function serverUser() {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function initCluster(user) {
  const dataDir = join(ROOT, "data");
  if (existsSync(join(dataDir, "PG_VERSION"))) return;
  rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(join(ROOT, "socket"), { recursive: true });
  const password = randomBytes(18).toString("base64url");
  writeFileSync(join(ROOT, "password"), password, { mode: 0o600 });
  writeFileSync(join(ROOT, "pwfile"), `${password}\n`, { mode: 0o600 });
  if (user) {
    chownSync(ROOT, user.uid, user.gid);
    chownSync(join(ROOT, "socket"), user.uid, user.gid);
    chownSync(join(ROOT, "pwfile"), user.uid, user.gid);
  }
  const init = spawnSync(
    join(PG_BIN, "initdb"),
    [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      `--pwfile=${join(ROOT, "pwfile")}`,
      "--encoding=UTF8",
      "--locale=C",
    ],
    { encoding: "utf8", ...(user ?? {}) },
  );
  rmSync(join(ROOT, "pwfile"), { force: true });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
}

/** Starts the benchmark cluster; returns { url(db), password, port, stop() }. */
export async function startBenchServer() {
  const user = serverUser();
  initCluster(user);
  const password = readFileSync(join(ROOT, "password"), "utf8");
  const port = await freePort();
  const child = spawn(
    join(PG_BIN, "postgres"),
    [
      "-D",
      join(ROOT, "data"),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `port=${port}`,
      "-c",
      `unix_socket_directories=${join(ROOT, "socket")}`,
      "-c",
      "shared_buffers=256MB",
      "-c",
      "maintenance_work_mem=256MB",
      "-c",
      "max_wal_size=4GB",
      "-c",
      "checkpoint_timeout=30min",
    ],
    { stdio: ["ignore", "ignore", "pipe"], ...(user ?? {}) },
  );
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const env = { ...process.env, PGPASSWORD: password };
  for (let attempt = 0; ; attempt++) {
    const probe = spawnSync(
      join(PG_BIN, "psql"),
      ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-Atc", "select 1"],
      { env, encoding: "utf8" },
    );
    if (probe.status === 0) break;
    if (child.exitCode !== null || attempt > 600) throw new Error(`postgres did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    port,
    password,
    url: (database = "postgres") =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    psql(database, sql) {
      const result = spawnSync(
        join(PG_BIN, "psql"),
        [
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "-U",
          "postgres",
          "-d",
          database,
          "-v",
          "ON_ERROR_STOP=1",
          "-Atc",
          sql,
        ],
        { env, encoding: "utf8" },
      );
      if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`);
      return result.stdout.trim();
    },
    async stop() {
      if (child.exitCode !== null) return;
      await new Promise((resolve) => {
        child.once("exit", resolve);
        child.kill("SIGINT"); // fast shutdown
      });
    },
  };
}

/**
 * Makes sure `database` (default `bench`) holds the pgbench data set, with pgbench_accounts split
 * into `partitions` range partitions when above 0 (pgbench --partitions); returns its size in bytes.
 */
export function ensureBenchData(server, { database = "bench", partitions = 0 } = {}) {
  const exists =
    server.psql("postgres", `select count(*) from pg_database where datname = '${database}'`) === "1";
  const ready =
    exists && server.psql(database, "select count(*) from pg_class where relname = 'bench_ready'") === "1";
  if (!ready) {
    if (exists) server.psql("postgres", `drop database ${database}`);
    server.psql("postgres", `create database ${database}`);
    const started = Date.now();
    const result = spawnSync(
      join(PG_BIN, "pgbench"),
      [
        "-i",
        "-s",
        String(SCALE),
        ...(partitions > 0 ? [`--partitions=${partitions}`] : []),
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        String(server.port),
        "-U",
        "postgres",
        database,
      ],
      { env: { ...process.env, PGPASSWORD: server.password }, stdio: ["ignore", "inherit", "inherit"] },
    );
    if (result.status !== 0) throw new Error("pgbench -i failed");
    server.psql(database, "vacuum analyze");
    server.psql(database, "create table bench_ready (at timestamptz default now())");
    console.error(
      `generated pgbench -s ${SCALE}${partitions > 0 ? ` --partitions=${partitions}` : ""} in ${((Date.now() - started) / 1000).toFixed(0)}s`,
    );
  }
  return Number(server.psql(database, `select pg_database_size('${database}')`));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startBenchServer();
  try {
    const size = ensureBenchData(server);
    console.error(`database bench: ${(size / 1024 ** 3).toFixed(2)} GiB in ${ROOT}`);
  } finally {
    await server.stop();
  }
}
