/**
 * Point-in-time recovery tests restore a base backup into a data directory; this starts a real
 * PostgreSQL on it (as the postgres user when the tests run as root) and waits until recovery
 * has replayed the archive and the server accepts queries.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./ports.js";
import type { TestPostgres } from "./postgres.js";

/** The postgres user's ids when running as root (PostgreSQL refuses to run as root), else none. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return {
    uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })),
    gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" })),
  };
}

export interface RecoveredCluster {
  readonly child: ChildProcess;
  /** The answer to `query` once recovery finished. */
  readonly rows: Record<string, unknown>;
  /** The server's last 6,000 characters of log. */
  readonly log: string;
}

export interface RecoveredClusterOptions {
  /** Directory of the postgres binary. */
  readonly bin: string;
  readonly dataDir: string;
  /** A scratch directory for the unix socket. */
  readonly socketDir: string;
  readonly password: string;
  readonly database: string;
  /** Asked once recovery has finished; its first row is returned. */
  readonly query: string;
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Called with the child as soon as it is started, so a test's after() can kill it. */
  readonly started?: (child: ChildProcess) => void;
}

/** Starts PostgreSQL on a restored data directory and waits until it has recovered. */
export async function startRecoveredCluster(options: RecoveredClusterOptions): Promise<RecoveredCluster> {
  const user = serverUser();
  if (user) execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, options.dataDir]);
  mkdirSync(options.socketDir, { recursive: true });
  if (user) chownSync(options.socketDir, user.uid, user.gid);
  const port = await freePort();
  let log = "";
  const child = spawn(
    join(options.bin, "postgres"),
    [
      "-D",
      options.dataDir,
      "-c",
      `port=${port}`,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${options.socketDir}`,
      "-c",
      "archive_mode=off",
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: options.env ?? process.env, ...(user ?? {}) },
  );
  options.started?.(child);
  child.stderr!.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-6000);
  });
  const url = `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${port}/${options.database}`;
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      const probe = new pg.Client({ connectionString: url });
      await probe.connect();
      try {
        const recovering = (await probe.query("select pg_is_in_recovery() as r")).rows[0].r;
        if (!recovering) return { child, rows: (await probe.query(options.query)).rows[0], log };
      } finally {
        await probe.end();
      }
    } catch {
      // starting up or still replaying
    }
    if (child.exitCode !== null || Date.now() > deadline) assert.fail(`recovery did not finish:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** Waits until the server's archive_command has archived `segment` (pg_stat_archiver). */
export async function waitArchived(server: TestPostgres, segment: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await server.query<{ last: string | null; failed: string; failedWal: string | null }>(
      'select last_archived_wal as last, failed_count::text as failed, last_failed_wal as "failedWal" from pg_stat_archiver',
    );
    if (row!.last !== null && row!.last >= segment) return;
    if (Date.now() > deadline) throw new Error(`WAL ${segment} not archived: ${JSON.stringify(row)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
