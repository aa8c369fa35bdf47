/**
 * The PostgreSQL store against a real PostgreSQL 15: records in batches, one chain per writer;
 * PostgreSQL SIGKILLed mid-stream (records go to the disk spool, `audit: required` fails closed)
 * and started again (the spool is shipped in order, the chain verifies); a dead process's spool
 * shipped by the next one.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { auditSchema } from "../../../src/audit/schema.js";
import { readPostgresForVerify, withPostgres } from "../../../src/audit/sources.js";
import { type AuditTrail, createAuditTrail } from "../../../src/audit/trail.js";
import { verifyChains } from "../../../src/audit/verify.js";
import { isBulwarkError } from "../../../src/errors.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { type AuditFixture, auditFixture, sampleEvent } from "../../unit/audit/audit-fixture.js";

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("audit postgres store", () => {
  let postgres: TestPostgres;
  let fixture: AuditFixture;
  let url: string;
  let spoolDir: string;

  before(async () => {
    postgres = await startPostgres();
    url = await postgres.createDatabase("audit");
    fixture = auditFixture();
    spoolDir = mkdtempSync(join(tmpdir(), "bulwark-audit-spool-"));
  });
  after(async () => {
    await postgres?.close();
    fixture?.cleanup();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  const trail = (overrides: Record<string, unknown> = {}, writer?: string, storeUrl = url): AuditTrail =>
    createAuditTrail(
      auditSchema.parse({
        store: {
          type: "postgres",
          url: storeUrl,
          spoolDir,
          retryInterval: 200,
          connectTimeout: 1000,
          batchSize: 100,
          ...overrides,
        },
        signingKey: fixture.privateKeyFile,
        checkpointEvery: 100,
      }),
      writer ? { writer } : {},
    );

  const verify = () =>
    withPostgres(url, async (client) =>
      verifyChains(await readPostgresForVerify(client, "bulwark_audit"), [fixture.publicKey]),
    );

  test("concurrent durable records land in one valid chain per writer", async () => {
    // A generous connect timeout: this test is about the chains, not outages, and the first
    // connection (table creation under an advisory lock) can be slow on a loaded CI machine.
    const a = trail({ connectTimeout: 10_000 }, "pg-a-1-a");
    const b = trail({ connectTimeout: 10_000 }, "pg-b-2-b");
    const receipts = await Promise.all(
      Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? a : b).recordDurable(sampleEvent(i))),
    );
    assert.ok(receipts.every((receipt) => receipt.durable === "store"));
    assert.deepEqual(
      receipts
        .filter((r) => r.writer === "pg-a-1-a")
        .map((r) => r.seq)
        .sort((x, y) => x - y),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    await Promise.all([a.close(), b.close()]);
    const rows = await postgres.query<{ writer: string; n: string }>(
      "select writer, count(*) as n from bulwark_audit group by writer order by writer",
      [],
      "audit",
    );
    assert.deepEqual(
      rows.map((row) => [row.writer, Number(row.n)]),
      [
        ["pg-a-1-a", 200],
        ["pg-b-2-b", 200],
      ],
    );
    const report = await verify();
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.deepEqual(
      report.chains.map((chain) => [chain.writer, chain.signedThrough]),
      [
        ["pg-a-1-a", 200],
        ["pg-b-2-b", 200],
      ],
    );
  });

  test("postgres killed mid-stream: records spool to disk, required fails closed, spool ships on restart", async () => {
    const writer = "pg-kill-3-c";
    const audit = trail({}, writer);
    // A steady stream of fire-and-forget and durable records runs through the whole outage.
    const acked: number[] = [];
    let refused = 0;
    let sent = 0;
    let running = true;
    const stream = (async () => {
      while (running) {
        for (let i = 0; i < 5; i++) audit.record(sampleEvent(sent++));
        try {
          acked.push((await audit.recordDurable(sampleEvent(sent++))).seq);
        } catch (error) {
          assert.ok(isBulwarkError(error) && error.code === "audit_unavailable", String(error));
          refused += 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await until(() => acked.length >= 50, "records before the kill");

    await postgres.kill();
    await until(() => !audit.available, "the trail to notice the outage");
    await until(() => refused >= 20, "required records refused while PostgreSQL is down");
    const spool = join(spoolDir, `spool-${writer}.jsonl`);
    assert.ok(existsSync(spool));
    await until(() => readFileSync(spool, "utf8").split("\n").length > 100, "records spooled");
    const ackedBeforeRestart = acked.length;

    await postgres.start();
    await until(() => audit.available, "the spool to be shipped");
    await until(() => acked.length > ackedBeforeRestart + 20, "durable records acknowledged again");
    running = false;
    await stream;
    await audit.close();
    assert.equal(readFileSync(spool, "utf8"), "", "spool emptied once shipped");

    const rows = await postgres.query<{ n: string; max: string }>(
      "select count(*) as n, max(seq) as max from bulwark_audit where writer = $1",
      [writer],
      "audit",
    );
    assert.equal(Number(rows[0]!.n), Number(rows[0]!.max), "no gap and no duplicate");
    const stored = new Set(
      (
        await postgres.query<{ seq: string }>(
          "select seq from bulwark_audit where writer = $1",
          [writer],
          "audit",
        )
      ).map((row) => Number(row.seq)),
    );
    assert.deepEqual(
      acked.filter((seq) => !stored.has(seq)),
      [],
      "every acknowledged record is in PostgreSQL",
    );
    const report = await verify();
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    const chain = report.chains.find((c) => c.writer === writer)!;
    assert.equal(chain.lastSeq, Number(rows[0]!.max));
    assert.equal(chain.signedThrough, chain.lastSeq);
  });

  test("spoolForRequired lets required records through the spool", async () => {
    const audit = trail(
      { url: "postgres://postgres:x@127.0.0.1:1/none", spoolForRequired: true },
      "pg-spool-4-d",
    );
    const receipt = await audit.recordDurable(sampleEvent(1));
    assert.equal(receipt.durable, "spool");
    assert.equal(audit.available, true);
    await audit.close();
    rmSync(join(spoolDir, "spool-pg-spool-4-d.jsonl"));
  });

  test("the spool of a process that died is shipped by the next one", async () => {
    // A writer whose PostgreSQL was unreachable for its whole life, then gone (pid unused).
    const deadWriter = "pg-dead-4194000-e";
    const dead = trail({ url: "postgres://postgres:x@127.0.0.1:1/none", spoolForRequired: true }, deadWriter);
    for (let i = 0; i < 120; i++) await dead.recordDurable(sampleEvent(i));
    await dead.close();
    assert.ok(readdirSync(spoolDir).includes(`spool-${deadWriter}.jsonl`));

    const next = trail({}, "pg-next-5-f");
    await until(
      async () => !readdirSync(spoolDir).includes(`spool-${deadWriter}.jsonl`),
      "the orphan spool to be shipped",
    );
    await next.close();
    const report = await verify();
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    const chain = report.chains.find((c) => c.writer === deadWriter)!;
    assert.equal(chain.lastSeq, 120);
    assert.equal(chain.signedThrough, 120);
  });

  test("an edited row is named by verify", async () => {
    await postgres.query(
      'update bulwark_audit set line = replace(line, \'"subject":"user-\', \'"subject":"admin-\') where writer = $1 and seq = 31',
      ["pg-b-2-b"],
      "audit",
    );
    const report = await verify();
    const finding = report.findings.find((f) => f.severity === "tamper" && f.writer === "pg-b-2-b")!;
    assert.equal(finding.kind, "altered");
    assert.equal(finding.seq, 31);
    assert.equal(finding.at, "bulwark_audit[pg-b-2-b]:31");
  });

  test("a deleted row is named by verify", async () => {
    await postgres.query("delete from bulwark_audit where writer = $1 and seq = 77", ["pg-a-1-a"], "audit");
    const report = await verify();
    assert.equal(report.ok, false);
    const finding = report.findings.find((f) => f.severity === "tamper")!;
    assert.equal(finding.kind, "removed");
    assert.equal(finding.writer, "pg-a-1-a");
    assert.equal(finding.seq, 77);
  });
});
