/**
 * Point-in-time recovery after `bulwark backup rekey` (rekey-fixture.ts, a real PostgreSQL 15):
 * a base backup and WAL archived under OLD are re-encrypted while archive_command archives with
 * both keys (NEW first, the documented order); WAL archived after it is under NEW, and
 * `bulwark restore --data-dir` with NEW alone recovers every row, through WAL from before and
 * after the rekey.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startRecoveredCluster } from "../../support/recovered-cluster.js";
import {
  archiveWith,
  fx,
  giveToServer,
  keyIdOf,
  rekey,
  run,
  setUp,
  switchWal,
  tearDown,
  walFiles,
} from "./rekey-fixture.js";

const { keys, ids } = fx;

before(() => setUp({ logical: false }));
after(tearDown);

test("point-in-time recovery with NEW after the rekey, through WAL archived before and after it", async () => {
  archiveWith([keys.new, keys.old]);
  const before = walFiles(fx.repo);
  assert.ok(before.length >= 1);
  for (const name of before) assert.equal(keyIdOf(join(fx.repo, "wal", name)), ids.old, name);
  const result = await rekey(fx.repo, ["--format", "json"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).wal.converted, before.length);
  giveToServer(fx.repo);

  await fx.server.query("insert into t select generate_series(301, 400)", [], "app");
  await switchWal();
  for (const name of walFiles(fx.repo)) assert.equal(keyIdOf(join(fx.repo, "wal", name)), ids.new, name);
  const dataDir = join(fx.root, "recovered");
  const restore = await run(["restore", "--data-dir", dataDir, "--repo", fx.repo, "--key-file", keys.new]);
  assert.equal(restore.code, 0, restore.stderr);
  const recovered = await startRecoveredCluster({
    bin: fx.server.bin,
    dataDir,
    socketDir: join(fx.root, "socket2"),
    password: fx.server.password,
    database: "app",
    query: "select count(*)::int as n, max(id) as max from t",
    timeoutMs: 60_000,
    started: (child) => fx.children.push(child),
  });
  assert.deepEqual(recovered.rows, { n: 400, max: 400 });
});
