/**
 * Split backups in an S3-compatible bucket (s3rver on a loopback port) through the built CLI,
 * against a real PostgreSQL 15: backup --jobs 3 (several multipart uploads at once), list and
 * show, restore --jobs 3, drill --jobs 2, prune removing every artifact of a split backup, and a
 * missing data object refused before the target is touched.
 */
import assert from "node:assert/strict";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { TestPostgres } from "../../support/postgres.js";
import type { TestS3 } from "../../support/s3.js";
import { type BackupFixture, startBackupFixture, tableStats } from "./fixture.js";

let fx: BackupFixture;
let server: TestPostgres;
let s3: TestS3;
let repo: string;

const run = (args: string[], timeoutMs?: number) => fx.run(args, { timeoutMs });

/** Files s3rver keeps for objects whose key contains `text`. */
function storedObjects(text: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (full.includes(text)) out.push(full);
    }
  };
  walk(s3.directory);
  return out;
}

const stats = tableStats;

before(async () => {
  fx = await startBackupFixture({
    prefix: "bulwark-parallel-s3-",
    s3Prefix: "split",
    seed: `create table big_one (id int primary key, b text);
     insert into big_one select g, md5(g::text) || md5((g * 7)::text) from generate_series(1, 40000) g;
     create table big_two (id int primary key, one_id int references big_one(id), b text);
     insert into big_two select g, g, md5((g * 3)::text) from generate_series(1, 40000) g;
     create table small (id serial primary key, name text);
     insert into small (name) select 'n' || g from generate_series(1, 100) g;`,
  });
  ({ server, repo } = fx);
  s3 = fx.s3!;
});

after(() => fx?.close());

describe("split backups on S3", () => {
  let first: { id: string; artifacts: { name: string }[]; tables: unknown[]; dump: { parts: unknown[] } };

  test("backup --jobs 3, list, show, restore --jobs 3 and drill --jobs 2", async () => {
    first = await fx.backup<typeof first>(["--jobs", "3"]);
    assert.equal(first.dump.parts.length, 2);
    assert.deepEqual(
      first.artifacts.map((artifact) => artifact.name),
      ["schema.bwenc", "data-0001.bwenc", "data-0002.bwenc"],
    );
    const shown = await run(["backup", "show", first.id, "--repo", repo]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, /split: 3 artifacts by 3 jobs/);

    const target = await server.createDatabase("restored");
    const restored = await fx.restore("latest", target, ["--jobs", "3"]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await stats(target), first.tables);
    const fk = await server.query<{ n: number }>(
      "select count(*)::int as n from pg_constraint where contype = 'f'",
      [],
      "restored",
    );
    assert.equal(fk[0]!.n, 1);

    const drill = await fx.drill(["--jobs", "2", "--no-evidence", "--format", "json"]);
    assert.equal(drill.code, 0, drill.stderr);
    assert.equal(JSON.parse(drill.stdout).ok, true);
  });

  test("a missing data object is refused before the target is touched; prune removes every artifact", async () => {
    const secondId = (await fx.backup(["--jobs", "2"])).id;
    const thirdId = (await fx.backup(["--jobs", "3"])).id;
    for (const file of storedObjects(`${thirdId}/data-0002.bwenc`)) rmSync(file);
    const target = await server.createDatabase("untouched");
    const refused = await fx.restore(thirdId, target, ["--jobs", "3"]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /missing its artifact data-0002\.bwenc/);
    const relations = await server.query<{ n: number }>(
      "select count(*)::int as n from pg_class where relnamespace = 'public'::regnamespace",
      [],
      "untouched",
    );
    assert.equal(relations[0]!.n, 0);

    // keep-last 1 keeps the third; the first is the newest verified one (by the drill), so kept.
    assert.ok(storedObjects(`${secondId}/`).length >= 3);
    const pruned = await run(["backup", "prune", "--repo", repo, "--keep-last", "1"]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stderr, new RegExp(`removed ${secondId}`));
    assert.deepEqual(storedObjects(`${secondId}/`), []);
    assert.ok(storedObjects(`${first.id}/schema.bwenc`).length > 0);
  });
});
