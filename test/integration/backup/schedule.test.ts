/**
 * `bulwark backup --schedule`: a long-lived process against a real PostgreSQL 15 that backs up
 * on a cron schedule (six fields: every 2 seconds here), logs each run as a JSON line, prunes
 * after each run, counts runs in /metrics, keeps going after a failed run, and stops on SIGTERM.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { finished, runCli, spawnCli } from "../../support/cli.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";

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
  const child = spawnCli(
    [
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
    ],
    { env: { PGPASSWORD: "", DATABASE_URL: "" } },
  );
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
