/**
 * What the rekey tests share (rekey*.test.ts): a real PostgreSQL 15 archiving WAL through
 * `bulwark wal push` into a local repository holding backups under several keys, and the CLI
 * calls the tests make. Each test file runs in its own process, so each has its own.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { generateKeyFile, readKeyFile } from "../../../src/backup/backup-key.js";
import { BIN, spawnCli } from "../../support/cli.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { serverUser, waitArchived } from "../../support/recovered-cluster.js";
import { shellQuote as quote, recoverRowsOfT, runBulwark } from "./fixture.js";

/** What setUp() made; one per test file (each file runs in its own process). */
export const fx = {
  server: undefined as unknown as TestPostgres,
  root: "",
  repo: "",
  keys: { old: "", new: "", third: "", stray: "" },
  ids: { old: "", new: "", third: "" },
  backupA: "",
  backupB: "",
  backupC: "",
  baseId: "",
  children: [] as { kill(signal: NodeJS.Signals): boolean; exitCode: number | null }[],
};

export function run(args: string[], timeoutMs?: number) {
  return runBulwark(args, { timeoutMs });
}

/** argv of `bulwark backup rekey` of `repository`, from OLD to NEW unless other key files are given. */
export function rekeyArgs(
  repository: string,
  extra: string[] = [],
  oldKey = fx.keys.old,
  newKey = fx.keys.new,
): string[] {
  return ["backup", "rekey", "--repo", repository, "--key-file", oldKey, "--new-key-file", newKey, ...extra];
}

export function rekey(repository: string, extra: string[] = []) {
  return run(rekeyArgs(repository, extra));
}

/** A rekey from OLD to NEW running in the background; tearDown kills it if it is still running. */
export function spawnRekey(repository: string, extra: string[] = []) {
  const child = spawnCli(rekeyArgs(repository, extra));
  fx.children.push(child);
  return child;
}

/** Every file of a repository (temp files too) with its SHA-256. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[relative(dir, full)] = createHash("sha256").update(readFileSync(full)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

export async function listed(repository: string, base = false) {
  const result = await run([
    "backup",
    "list",
    "--repo",
    repository,
    "--format",
    "json",
    ...(base ? ["--base"] : []),
  ]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as {
    backups: { id: string; encryption: { keyId: string } }[];
    incomplete: { id: string; live: boolean }[];
  };
}

/** argv of `bulwark drill restore --id ID` against the test server, without evidence files. */
export function drillArgs(repository: string, id: string, key: string): string[] {
  return [
    "drill",
    "restore",
    "--id",
    id,
    "--db",
    fx.server.url(),
    "--repo",
    repository,
    "--key-file",
    key,
    "--no-evidence",
  ];
}

export function drill(repository: string, id: string, key: string) {
  return run([...drillArgs(repository, id, key), "--format", "json"]);
}

/** argv of `bulwark wal push|fetch OPERANDS --repo REPO --key-file K…` (several keys: a rotation). */
export function walArgs(
  action: "push" | "fetch",
  operands: string[],
  repository: string,
  keyFiles: string[],
) {
  return [
    "wal",
    action,
    ...operands,
    "--repo",
    repository,
    ...keyFiles.flatMap((file) => ["--key-file", file]),
  ];
}

/** The key id in an artifact's header (bytes 12..20). */
export function keyIdOf(file: string): string {
  return readFileSync(file).subarray(12, 20).toString("hex");
}

export function walFiles(repository: string): string[] {
  return readdirSync(join(repository, "wal"))
    .filter((name) => name.endsWith(".bwenc"))
    .sort();
}

/** archive_command and restore_command run as the server's user (fx.root in CI runs them as postgres). */
export function giveToServer(path: string): void {
  const user = serverUser();
  if (user) spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, path]);
}

/**
 * archive_command runs a script the test rewrites: a setting given on the server's command line
 * outranks ALTER SYSTEM, so the keys it archives with are switched here, as an operator would
 * switch them in postgresql.conf.
 */
export function archiveWith(keyFiles: string[]): void {
  const script = join(fx.root, "archive.sh");
  writeFileSync(
    script,
    `exec ${quote(process.execPath)} ${quote(BIN)} wal push "$1" --repo ${quote(fx.repo)} ${keyFiles.map((file) => `--key-file ${quote(file)}`).join(" ")}\n`,
    { mode: 0o644 },
  );
}

export async function switchWal(): Promise<void> {
  const [row] = await fx.server.query<{ name: string }>(
    "select pg_walfile_name(pg_switch_wal()) as name",
    [],
    "app",
  );
  await waitArchived(fx.server, row!.name, 30_000);
}

/**
 * A backup with `key` into fx.repo unless given (`extra` ["--base"]: of the cluster; else a logical
 * backup of `app`), with `env` added (an S3 bucket's variables); its id.
 */
export async function backup(
  key: string,
  repository = fx.repo,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<string> {
  const db = extra.includes("--base") ? fx.server.url() : fx.server.url("app");
  const result = await runBulwark(
    ["backup", ...extra, "--db", db, "--repo", repository, "--key-file", key, "--format", "json"],
    { env },
  );
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout).id;
}

/** A base backup of the cluster with `key` into fx.repo; its id. */
export function baseBackup(key: string): Promise<string> {
  return backup(key, fx.repo, ["--base"]);
}

/** PostgreSQL started on a restored data directory: the rows of `t` once recovery finished. */
export async function recoveredRows(dataDir: string) {
  const recovered = await recoverRowsOfT(fx.server, fx.root, dataDir, {
    timeoutMs: 60_000,
    started: (child) => fx.children.push(child),
  });
  return recovered.rows;
}

/**
 * A PostgreSQL 15 archiving WAL with OLD, two logical backups and a base backup under OLD, WAL
 * archived after the base backup, and a backup under a third key. `backups: false`: the server
 * and the keys only; `logical: false`: no logical backups; `base: false`: no base backup.
 */
export async function setUp(
  options: { backups?: boolean; logical?: boolean; base?: boolean } = {},
): Promise<void> {
  const { keys, ids } = fx;
  fx.root = mkdtempSync(join(tmpdir(), "bulwark-rekey-"));
  chmodSync(fx.root, 0o755);
  fx.repo = join(fx.root, "repo");
  mkdirSync(fx.repo);
  for (const name of Object.keys(keys) as (keyof typeof keys)[]) {
    keys[name] = join(fx.root, `${name}.key`);
    generateKeyFile(keys[name]); // what `bulwark backup keygen` does, without a process each
  }
  ids.old = readKeyFile(keys.old).id;
  ids.new = readKeyFile(keys.new).id;
  ids.third = readKeyFile(keys.third).id;
  giveToServer(fx.repo);
  giveToServer(keys.old);
  giveToServer(keys.new);
  archiveWith([keys.old]);
  fx.server = await startPostgres({
    settings: { archive_mode: "on", archive_command: `/bin/sh ${quote(join(fx.root, "archive.sh"))} %p` },
  });
  await fx.server.createDatabase("app");
  await fx.server.query(
    "create table t (id int primary key); insert into t select generate_series(1, 100)",
    [],
    "app",
  );
  if (options.backups === false) return;
  const logical = options.logical !== false;
  if (logical) fx.backupA = await backup(keys.old);
  await fx.server.query("insert into t select generate_series(101, 200)", [], "app");
  if (logical) fx.backupB = await backup(keys.old);
  if (options.base !== false) fx.baseId = await baseBackup(keys.old);
  await fx.server.query("insert into t select generate_series(201, 300)", [], "app");
  await switchWal();
  if (logical) fx.backupC = await backup(keys.third);
}

export async function tearDown(): Promise<void> {
  for (const child of fx.children) if (child.exitCode === null) child.kill("SIGKILL");
  await fx.server?.close();
  if (fx.root) rmSync(fx.root, { recursive: true, force: true });
}
