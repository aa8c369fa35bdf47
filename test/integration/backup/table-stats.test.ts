/**
 * The content checksum against a real PostgreSQL 15: it does not depend on row order, and it
 * changes when a value changes, when two columns swap values, when equal values in two columns
 * change together, and between NULL and a value.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import { applyTextFormSettings, tableStats } from "../../../src/backup/table-stats.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";

let server: TestPostgres;
let client: pg.Client;

before(async () => {
  server = await startPostgres();
  client = new pg.Client({ connectionString: await server.createDatabase("stats") });
  await client.connect();
});

after(async () => {
  await client?.end();
  await server?.close();
});

async function checksum(rows: string): Promise<string> {
  await client.query("drop table if exists t");
  await client.query("create table t (a int, b int, c text)");
  if (rows) await client.query(`insert into t values ${rows}`);
  await client.query("begin");
  await applyTextFormSettings(client);
  const stats = await tableStats(client, { schema: "public", name: "t" });
  await client.query("commit");
  return stats.checksum;
}

test("the checksum ignores row order and sees every change", async () => {
  const base = await checksum("(1, 2, 'x'), (3, 4, 'y')");
  assert.equal(await checksum("(3, 4, 'y'), (1, 2, 'x')"), base, "row order changed the checksum");
  const changed = new Map([
    ["a value", "(1, 2, 'x'), (3, 5, 'y')"],
    ["swapped columns", "(2, 1, 'x'), (4, 3, 'y')"],
    ["a NULL", "(1, null, 'x'), (3, 4, 'y')"],
    ["a missing row", "(1, 2, 'x')"],
    ["a duplicated row", "(1, 2, 'x'), (3, 4, 'y'), (3, 4, 'y')"],
    ["text", "(1, 2, 'x'), (3, 4, 'Y')"],
  ]);
  const seen = new Set([base]);
  for (const [what, rows] of changed) {
    const value = await checksum(rows);
    assert.ok(!seen.has(value), `${what} did not change the checksum`);
    seen.add(value);
  }
  const equalPairs = await checksum("(1, 1, 'x'), (2, 2, 'x')");
  assert.notEqual(
    await checksum("(1, 1, 'x'), (3, 3, 'x')"),
    equalPairs,
    "equal values in two columns cancelled out",
  );
  assert.equal(await checksum(""), "0");
});
