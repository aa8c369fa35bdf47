/**
 * `bulwark backup --schedule`: a long-lived process against a real PostgreSQL 15 that backs up
 * on a cron schedule (six fields: every 2 seconds here), logs each run as a JSON line, prunes
 * after each run, counts runs in /metrics, keeps going after a failed run, and stops on SIGTERM;
 * a run whose prune meets a rekey's lock skips that prune and the next run prunes.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { finished, runCli } from "../../support/cli.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { spawnBulwark } from "./fixture.js";

let server: TestPostgres;
let dir: string;

before(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), "bulwark-backup-schedule-"));
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test("scheduled backups: JSON run logs, retention after each run, metrics, failures counted, SIGTERM stops", async () => {
  const key = join(dir, "backup.key");
  const repo = join(dir, "repo");
  assert.equal((await runCli(["backup", "keygen", "--out", key])).code, 0);
  const url = await server.createDatabase("app");
  await server.query("create table t (x int); insert into t select generate_series(1, 500)", [], "app");
  const child = spawnBulwark([
    "backup",
    "--schedule",
    "*/2 * * * * *",
    "--db",
    url,
    "--repo",
    repo,
    "--key-file",
    key,
    "--keep-last",
    "2",
    "--metrics-listen",
    "127.0.0.1:0",
  ]);
  try {
    const address = await waitFor(
      () =>
        logLines(child.output().stdout).find((line) => line.msg === "metrics listening")?.address as
          | string
          | undefined,
      20_000,
      "the metrics address",
    );
    const successes = () =>
      logLines(child.output().stdout).filter((line) => line.event === "backup" && line.result === "success");
    await waitFor(() => (successes().length >= 3 ? true : undefined), 60_000, "three scheduled backups");
    const first = successes()[0]!;
    assert.match(String(first.id), /^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    assert.equal(first.rows, 500);
    assert.equal(first.level, "info");
    // Retention runs after each successful backup (its line follows the backup's).
    const prunes = () => logLines(child.output().stdout).filter((line) => line.event === "prune");
    await waitFor(() => (prunes().length >= 3 ? true : undefined), 20_000, "retention after each run");
    assert.ok(!child.output().stdout.includes(server.password), "the password was logged");

    // A failing run (the server down) is logged and counted; the schedule keeps going.
    await server.kill();
    const failures = () =>
      logLines(child.output().stdout).filter((line) => line.event === "backup" && line.result === "failure");
    await waitFor(() => (failures().length >= 1 ? true : undefined), 30_000, "a failed run");
    assert.equal(failures()[0]!.code, "backup_db_unreachable");
    assert.equal(failures()[0]!.level, "error");
    await server.start();
    const before = successes().length;
    await waitFor(
      () => (successes().length > before ? true : undefined),
      30_000,
      "a backup after the server came back",
    );

    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    const success = Number(/bulwark_backup_runs_total\{result="success"\} (\d+)/.exec(metrics)?.[1]);
    const failure = Number(/bulwark_backup_runs_total\{result="failure"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(success >= 4, metrics);
    assert.ok(failure >= 1, metrics);
    assert.match(metrics, /bulwark_backup_last_success_timestamp_seconds \d/);
    assert.match(metrics, /bulwark_backup_last_size_bytes [1-9]/);
  } finally {
    child.kill("SIGTERM");
  }
  const result = await finished(child, 20_000);
  // Stopped while idle: 0; while a backup ran: 130 with that backup removed.
  assert.ok(result.code === 0 || result.code === 130, `exit ${result.code}: ${result.stderr}`);
  const list = await runCli(["backup", "list", "--repo", repo, "--format", "json"]);
  const listing = JSON.parse(list.stdout) as { backups: unknown[]; incomplete: unknown[] };
  assert.equal(listing.backups.length, 2, "keep-last 2 after each run");
  assert.deepEqual(listing.incomplete, []);
  assert.equal(readdirSync(repo).length, 2);
});

test("a scheduled run's prune meets a running rekey: skipped with one log line, the backups go on, the next run prunes", async () => {
  const key = join(dir, "lock.key");
  const repo = join(dir, "repo-locked");
  assert.equal((await runCli(["backup", "keygen", "--out", key])).code, 0);
  mkdirSync(repo, { mode: 0o700 });
  // This test process stands for a rekey running on this host.
  const lock = join(repo, "rekey.lock");
  writeFileSync(
    lock,
    JSON.stringify({ pid: process.pid, host: hostname(), startedAt: "2026-11-26T00:00:00Z" }),
  );
  const child = spawnBulwark([
    "backup",
    "--schedule",
    "*/2 * * * * *",
    "--db",
    server.url("app"),
    "--repo",
    repo,
    "--key-file",
    key,
    "--keep-last",
    "1",
  ]);
  try {
    const lines = () => logLines(child.output().stdout);
    const skipped = () => lines().filter((line) => line.event === "prune" && line.result === "skipped");
    await waitFor(() => (skipped().length >= 2 ? true : undefined), 60_000, "two skipped prunes");
    const skip = skipped()[0]!;
    assert.equal(skip.level, "warn");
    assert.equal(skip.code, "backup_rekey_busy");
    assert.match(
      String(skip.msg),
      /^retention skipped this run, retried at the next: a rekey of \S+ is running \(pid \d+/,
    );
    // The backups were made and nothing was pruned: one run, one backup, each a success.
    const successes = lines().filter((line) => line.event === "backup" && line.result === "success");
    assert.ok(successes.length >= 2, child.output().stdout);
    assert.ok(!lines().some((line) => line.event === "backup" && line.result === "failure"));
    const listing = await runCli(["backup", "list", "--repo", repo, "--format", "json"]);
    assert.ok(JSON.parse(listing.stdout).backups.length >= 2, listing.stdout);
    // The rekey ends: the next run prunes.
    rmSync(lock);
    const applied = await waitFor(
      () => lines().find((line) => line.event === "prune" && line.msg === "retention applied"),
      30_000,
      "a prune after the lock was released",
    );
    // It removes what the skipped prunes left: every backup but the newest.
    assert.equal(applied.kept, 1);
    assert.ok((applied.removed as string[]).length >= 2, JSON.stringify(applied));
  } finally {
    child.kill("SIGTERM");
  }
  const result = await finished(child, 20_000);
  assert.ok(result.code === 0 || result.code === 130, `exit ${result.code}: ${result.stderr}`);
});
