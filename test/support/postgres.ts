/**
 * A real PostgreSQL server (Debian's postgresql-15) in a temp directory on a free loopback port.
 * The superuser `postgres` has a random password and connects over TCP with scram-sha-256, the
 * way a user's application would. kill() SIGKILLs it (fault tests); start() brings the same
 * cluster back on the same port. When the tests run as root (CI), the server runs as the
 * `postgres` system user, because initdb and postgres refuse to run as root.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { killChild } from "./kill-child.js";
import { freePort } from "./ports.js";

const BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface TestPostgres {
  readonly port: number;
  readonly password: string;
  /** Directory of the server binaries (pg_dump, pg_restore, … of the same version). */
  readonly bin: string;
  /** Data directory (owned by the server's user). */
  readonly dataDir: string;
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/DATABASE */
  url(database?: string): string;
  /** Runs one statement as the superuser on `database` (default postgres) and returns its rows. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    database?: string,
  ): Promise<T[]>;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** SIGKILLs the server; the port stays reserved for start(). */
  kill(): Promise<void>;
  /** Starts the same cluster again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface PostgresOptions {
  /** Extra server settings, passed as `-c name=value` (e.g. archive_mode, archive_command). */
  readonly settings?: Readonly<Record<string, string>>;
}

function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

export async function startPostgres(options: PostgresOptions = {}): Promise<TestPostgres> {
  const probe = spawnSync(join(BIN, "postgres"), ["--version"]);
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `PostgreSQL 15 not found in ${BIN}; install it with: apt-get install -y postgresql (or set PG_BIN)`,
    );
  }
  const user = serverUser();
  const root = mkdtempSync(join(tmpdir(), "bulwark-pg-"));
  chmodSync(root, 0o755);
  const dataDir = join(root, "data");
  const socketDir = join(root, "socket");
  mkdirSync(socketDir);
  const password = randomBytes(18).toString("base64url");
  const passwordFile = join(root, "pwfile");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user) {
    chownSync(socketDir, user.uid, user.gid);
    chownSync(passwordFile, user.uid, user.gid);
    chownSync(root, user.uid, user.gid);
  }
  const init = spawnSync(
    join(BIN, "initdb"),
    [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      `--pwfile=${passwordFile}`,
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
    ],
    { encoding: "utf8", ...(user ?? {}) },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error?.message}`);
  rmSync(passwordFile, { force: true });

  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: socketDir,
    // Test clusters are disposable: durability of PostgreSQL itself is not what the tests check.
    fsync: "off",
    full_page_writes: "off",
    max_connections: "100",
    ...options.settings,
  };
  const args = [
    "-D",
    dataDir,
    ...Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`]),
  ];
  let child: ChildProcess | undefined;
  let stderr = "";

  const url = (database = "postgres") =>
    `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

  const query: TestPostgres["query"] = async (sql, params, database) => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(sql, params as unknown[] | undefined)).rows;
    } finally {
      await client.end();
    }
  };

  const waitReady = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await query("select 1");
        return;
      } catch (error) {
        if (child?.exitCode !== null && child?.exitCode !== undefined) {
          throw new Error(`postgres exited (${child.exitCode}): ${stderr.slice(-2000)}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`postgres did not accept connections on port ${port}: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  const launch = async () => {
    stderr = "";
    const started = spawn(join(BIN, "postgres"), args, {
      stdio: ["ignore", "ignore", "pipe"],
      ...(user ?? {}),
    });
    started.stderr?.setEncoding("utf8");
    started.stderr?.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-8000);
    });
    child = started;
    await waitReady(20_000);
  };

  // After a SIGKILL the old backends notice their postmaster is gone and exit within moments;
  // until they do, a new postmaster refuses the data directory ("shared memory block is still in
  // use"), so retry for a while rather than removing the lock by hand.
  const start = async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await launch();
        return;
      } catch (error) {
        if (Date.now() > deadline || !/still in use|already running|lock file/i.test(stderr)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };

  const kill = async () => {
    const running = child;
    child = undefined;
    await killChild(running);
  };

  await start();
  return {
    port,
    password,
    bin: BIN,
    dataDir,
    url,
    query,
    async createDatabase(name) {
      await query(`create database ${pg.escapeIdentifier(name)}`);
      return url(name);
    },
    kill,
    start,
    async close() {
      await kill();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
