/**
 * What the backup tests share: a real PostgreSQL 15 with a seeded database, a temp directory with
 * a key made by `bulwark backup keygen`, a repository (a directory, or a bucket of a real s3rver),
 * and the CLI calls the tests make against them (backup, list, restore, drill), each through the
 * built binary. Each test file runs in its own process and starts its own fixture.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { allTableStats } from "../../../src/backup/table-stats.js";
import { type CliResult, runCli, spawnCli } from "../../support/cli.js";
import { type PostgresOptions, startPostgres, type TestPostgres } from "../../support/postgres.js";
import {
  type RecoveredClusterOptions,
  startRecoveredCluster,
  waitArchived,
} from "../../support/recovered-cluster.js";
import { startS3, type TestS3 } from "../../support/s3.js";

export interface RunOptions {
  /** Added to the environment (after the fixture's own: S3 variables). */
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** The built CLI, with no PGPASSWORD or DATABASE_URL leaking in from the test runner. */
export function runBulwark(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runCli(args, {
    timeoutMs: options.timeoutMs ?? 90_000,
    env: { PGPASSWORD: "", DATABASE_URL: "", ...options.env },
  });
}

/** The built CLI in the background, with no PGPASSWORD or DATABASE_URL from the test runner. */
export function spawnBulwark(args: readonly string[]) {
  return spawnCli(args, { env: { PGPASSWORD: "", DATABASE_URL: "" } });
}

/**
 * Holds an ACCESS EXCLUSIVE lock on `table` (`only t` for a partitioned parent alone) in `url`,
 * so that a pg_dump reaching it waits mid-backup, deterministically; the returned function
 * releases it.
 */
export async function lockTable(url: string, table: string): Promise<() => Promise<void>> {
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  await locker.query("begin");
  await locker.query(`lock table ${table} in access exclusive mode`);
  return async () => {
    await locker.query("rollback");
    await locker.end();
  };
}

/** Where a call reads and writes: the fixture's repository and key unless given. */
export interface Where extends RunOptions {
  readonly repo?: string;
  readonly key?: string;
}

export interface BackupFixture {
  readonly server: TestPostgres;
  /** With `s3`: the s3rver holding the repository. */
  readonly s3: TestS3 | undefined;
  readonly dir: string;
  readonly key: string;
  readonly repo: string;
  /** The seeded database, `app`. */
  readonly sourceUrl: string;
  /** The CLI with the fixture's environment (its S3 variables). */
  run(args: readonly string[], options?: RunOptions): Promise<CliResult>;
  /** argv of `bulwark backup --db DB --repo … --key-file … …extra` (the seeded database unless given). */
  backupArgs(extra?: readonly string[], where?: Where & { readonly db?: string }): string[];
  /** `bulwark backup --db DB --repo … --key-file … --format json …extra`, asserted to succeed. */
  backup<M = BackupJson>(extra?: readonly string[], where?: Where & { readonly db?: string }): Promise<M>;
  /** `bulwark backup list [--base] --format json`, asserted to succeed. */
  list<L = ListJson>(where?: Where & { readonly base?: boolean }): Promise<L>;
  /** `bulwark restore ID --to URL --repo … --key-file … …extra`. */
  restore(id: string, to: string, extra?: readonly string[], where?: Where): Promise<CliResult>;
  /** `bulwark drill restore --db SERVER --repo … --key-file … …extra`. */
  drill(extra?: readonly string[], where?: Where): Promise<CliResult>;
  close(): Promise<void>;
}

export interface BackupJson {
  id: string;
  size: number;
  tables: { schema: string; name: string; rows: number; checksum: string }[];
  artifacts: { name: string; size: number; sha256: string }[];
}

export interface ListJson {
  repository: string;
  backups: { id: string; verified: unknown; encryption: { keyId: string } }[];
  incomplete: { id: string; live: boolean; reason: string }[];
}

export interface FixtureOptions {
  /** Temp directory name prefix. */
  readonly prefix: string;
  /** SQL run in the database `app` before the tests. */
  readonly seed?: string;
  /** An S3 repository: `s3://<bucket>/<this prefix>` on a fresh s3rver. */
  readonly s3Prefix?: string;
  readonly postgres?: PostgresOptions;
  /** false: no key file yet (a test makes it with `bulwark backup keygen`). */
  readonly keygen?: boolean;
}

export async function startBackupFixture(options: FixtureOptions): Promise<BackupFixture> {
  const [server, s3] = await Promise.all([
    startPostgres(options.postgres),
    options.s3Prefix === undefined ? undefined : startS3(),
  ]);
  const dir = mkdtempSync(join(tmpdir(), options.prefix));
  const key = join(dir, "backup.key");
  const repo = s3 ? `s3://${s3.bucket}/${options.s3Prefix}` : join(dir, "repo");
  const sourceUrl = await server.createDatabase("app");
  if (options.seed) await server.query(options.seed, [], "app");
  const run = (args: readonly string[], runOptions: RunOptions = {}) =>
    runBulwark(args, { ...runOptions, env: { ...s3?.env(), ...runOptions.env } });
  if (options.keygen !== false) {
    const keygen = await run(["backup", "keygen", "--out", key]);
    assert.equal(keygen.code, 0, keygen.stderr);
  }
  const place = (where: Where) => ["--repo", where.repo ?? repo, "--key-file", where.key ?? key];
  const backupArgs = (extra: readonly string[] = [], where: Where & { db?: string } = {}) => [
    "backup",
    "--db",
    where.db ?? sourceUrl,
    ...place(where),
    ...extra,
  ];
  return {
    server,
    s3,
    dir,
    key,
    repo,
    sourceUrl,
    run,
    backupArgs,
    async backup<M>(extra: readonly string[] = [], where: Where & { db?: string } = {}) {
      const result = await run(backupArgs(["--format", "json", ...extra], where), where);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout) as M;
    },
    async list<L>(where: Where & { base?: boolean } = {}) {
      const result = await run(
        [
          "backup",
          "list",
          "--repo",
          where.repo ?? repo,
          "--format",
          "json",
          ...(where.base ? ["--base"] : []),
        ],
        where,
      );
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout) as L;
    },
    restore: (id, to, extra = [], where = {}) =>
      run(["restore", id, "--to", to, ...place(where), ...extra], where),
    drill: (extra = [], where = {}) =>
      run(["drill", "restore", "--db", server.url(), ...place(where), ...extra], where),
    async close() {
      await Promise.all([server.close(), s3?.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** How many relations `database` holds outside the system schemas (0: a restore touched nothing). */
export async function countRelations(server: TestPostgres, database: string): Promise<number> {
  const rows = await server.query<{ n: number }>(
    "select count(*)::int as n from pg_class where relnamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace)",
    [],
    database,
  );
  return rows[0]!.n;
}

/** Row counts and checksums of every table, computed as a backup computes them (one snapshot). */
export async function tableStats(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    return await allTableStats(client);
  } finally {
    await client.query("commit").catch(() => {});
    await client.end();
  }
}

/**
 * A repository directory on a 2 MiB tmpfs, unmounted after the test: a full disk. Mounting needs
 * root (the CI runs the tests as root); without it the test fails and says so.
 */
export function tinyRepository(t: { after(fn: () => unknown): void }, mountPoint: string): string {
  if (process.getuid?.() !== 0) {
    assert.fail("this test mounts a tmpfs and needs root (the CI runs as root); run the tests as root");
  }
  mkdirSync(mountPoint);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint]);
  t.after(() => spawnSync("umount", [mountPoint]));
  return mountPoint;
}

/** POSIX shell single-quoting, for the archive_command the tests give the server. */
export const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * The point-in-time tests' writes: rows 101..200, the target time, rows 201..300 (in `t` of
 * `database`), then a WAL switch, waiting until that segment is archived.
 */
export async function writeAroundTargetTime(
  server: TestPostgres,
  database: string,
  archiveTimeoutMs: number,
): Promise<{ targetTime: Date; segment: string }> {
  const client = new pg.Client({ connectionString: server.url(database) });
  await client.connect();
  await client.query("insert into t select generate_series(101, 200)");
  const targetTime: Date = (await client.query("select clock_timestamp() as at")).rows[0].at;
  await new Promise((resolve) => setTimeout(resolve, 300));
  await client.query("insert into t select generate_series(201, 300)");
  const segment: string = (await client.query("select pg_walfile_name(pg_switch_wal()) as name")).rows[0]
    .name;
  await client.end();
  await waitArchived(server, segment, archiveTimeoutMs);
  return { targetTime, segment };
}

/**
 * Starts PostgreSQL on a restored data directory (socket in `<root>/socket2`) and returns, once
 * recovery has finished, the count and the largest id of table `t` in `app`.
 */
export function recoverRowsOfT(
  server: TestPostgres,
  root: string,
  dataDir: string,
  options: Pick<RecoveredClusterOptions, "timeoutMs" | "env" | "started">,
) {
  return startRecoveredCluster({
    bin: server.bin,
    dataDir,
    socketDir: join(root, "socket2"),
    password: server.password,
    database: "app",
    query: "select count(*)::int as n, max(id) as max from t",
    ...options,
  });
}
