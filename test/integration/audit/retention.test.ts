/**
 * `audit.retention`: the gateway prunes its own audit store by age, with the signed prune record
 * `bulwark audit verify` accepts; a pass that meets another prune (the store's lock) skips
 * instead of racing it; on PostgreSQL two hosts' passes at once prune each chain once.
 */
import assert from "node:assert/strict";
import { readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { startAuditRetention } from "../../../src/audit/retention.js";
import { auditSchema } from "../../../src/audit/schema.js";
import { readPostgresForVerify, withPostgres } from "../../../src/audit/sources.js";
import { createAuditTrail } from "../../../src/audit/trail.js";
import { verifyChains } from "../../../src/audit/verify.js";
import { runCli } from "../../support/cli.js";
import { startGateway } from "../../support/gateway.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { type AuditFixture, auditFixture, writeRecords } from "../../unit/audit/audit-fixture.js";

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: "info" }, stream), lines };
}

/** 30 records from January 2026 in small segments, every file but the newest aged to then. */
async function oldSegments(fixture: AuditFixture): Promise<string[]> {
  const trail = fixture.trail({
    checkpointEvery: 5,
    store: { type: "jsonl", dir: fixture.dir, rotateSize: 1200 },
  });
  await writeRecords(trail, 30);
  await trail.close();
  const segments = readdirSync(fixture.dir)
    .filter((name) => name.startsWith("seg-"))
    .sort();
  const old = new Date("2026-01-01T00:00:00Z");
  for (const name of segments.slice(0, -1)) utimesSync(join(fixture.dir, name), old, old);
  return segments;
}

const segmentsIn = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.startsWith("seg-"))
    .sort();

describe("audit retention", () => {
  test("a pass prunes old segments with a signed prune record; a held lock skips the pass", async () => {
    const fixture = auditFixture();
    try {
      const before = await oldSegments(fixture);
      assert.ok(before.length >= 4, `${before.length} segments`);
      const config = auditSchema.parse({
        store: { type: "jsonl", dir: fixture.dir },
        signingKey: fixture.privateKeyFile,
        retention: { maxAge: "30d", every: "1h" },
      });
      const { log, lines } = capturingLogger();
      const retention = startAuditRetention(config, { log, firstPassAfter: 3_600_000 })!;
      try {
        // Another prune (a timer's `bulwark audit prune`) holds the directory's lock: skip, keep all.
        const lock = join(fixture.dir, ".prune.lock");
        writeFileSync(lock, `${process.pid}\n`);
        assert.deepEqual(await retention.runOnce(), []);
        assert.deepEqual(segmentsIn(fixture.dir), before);
        assert.ok(
          lines.some((line) => line.msg === "audit retention skipped this pass: another prune is running"),
        );
        rmSync(lock);

        const results = await retention.runOnce();
        assert.equal(results.length, 1);
        assert.deepEqual(segmentsIn(fixture.dir), before.slice(-1), "all but the newest (recent) segment");
        const logged = lines.find((line) => line.msg === "audit retention pruned old records");
        assert.equal(logged?.records, results[0]!.records);
        assert.equal(readdirSync(fixture.dir).includes(".prune.lock"), false, "the lock is released");

        const verify = await runCli(["audit", "verify", fixture.dir, "--public-key", fixture.publicKeyFile]);
        assert.equal(verify.code, 0, verify.stderr);
        assert.match(verify.stderr, new RegExp(`pruned before seq ${results[0]!.keptFrom}`));
        // Nothing more is old enough: the next pass prunes nothing.
        assert.deepEqual(await retention.runOnce(), []);
      } finally {
        await retention.stop();
      }
    } finally {
      fixture.cleanup();
    }
  });

  test("a broken signing key fails the pass with one log line and keeps every record", async () => {
    const fixture = auditFixture();
    try {
      const before = await oldSegments(fixture);
      const config = auditSchema.parse({
        store: { type: "jsonl", dir: fixture.dir },
        signingKey: fixture.privateKeyFile,
        retention: { maxAge: "30d" },
      });
      writeFileSync(fixture.privateKeyFile, "not a key\n");
      const { log, lines } = capturingLogger();
      const retention = startAuditRetention(config, { log, firstPassAfter: 3_600_000 })!;
      assert.deepEqual(await retention.runOnce(), []);
      await retention.stop();
      assert.deepEqual(segmentsIn(fixture.dir), before);
      const failed = lines.filter((line) => String(line.msg).startsWith("audit retention pass failed"));
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.code, "audit_key_invalid");
    } finally {
      fixture.cleanup();
    }
  });

  test("config: maxAge is required, at least 1h, and takes days", () => {
    const base = { store: { type: "jsonl", dir: "/tmp/x" }, signingKey: "k" };
    assert.equal(
      auditSchema.parse({ ...base, retention: { maxAge: "90d" } }).retention?.maxAge,
      90 * 86_400_000,
    );
    assert.equal(auditSchema.parse({ ...base, retention: { maxAge: "90d" } }).retention?.every, 3_600_000);
    assert.equal(auditSchema.safeParse({ ...base, retention: { maxAge: "10m" } }).success, false);
    assert.equal(auditSchema.safeParse({ ...base, retention: {} }).success, false);
    assert.equal(
      auditSchema.safeParse({ ...base, retention: { maxAge: "90d", every: "1s" } }).success,
      false,
    );
  });

  test("the gateway runs retention itself, soon after start", async () => {
    const fixture = auditFixture();
    try {
      const before = await oldSegments(fixture);
      const gw = await startGateway({
        upstreams: { app: { targets: ["http://127.0.0.1:9"] } },
        routes: [{ match: { pathPrefix: "/" }, upstream: "app" }],
        audit: {
          store: { type: "jsonl", dir: fixture.dir },
          signingKey: fixture.privateKeyFile,
          retention: { maxAge: "30d" },
        },
      });
      try {
        const deadline = Date.now() + 20_000;
        while (!gw.logs().some((line) => line.msg === "audit retention pruned old records")) {
          assert.ok(Date.now() < deadline, "no retention pass within 20 s of start");
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        // The gateway's own chain (a new writer) is untouched; the old chain lost its old segments.
        assert.ok(!segmentsIn(fixture.dir).some((name) => before.slice(0, -1).includes(name)));
      } finally {
        await gw.stop();
      }
      const verify = await runCli(["audit", "verify", fixture.dir, "--public-key", fixture.publicKeyFile]);
      assert.equal(verify.code, 0, verify.stderr);
    } finally {
      fixture.cleanup();
    }
  });
});

describe("audit retention on postgres", () => {
  let postgres: TestPostgres;
  let fixture: AuditFixture;
  let url: string;
  before(async () => {
    postgres = await startPostgres();
    url = await postgres.createDatabase("retention");
    fixture = auditFixture();
  });
  after(async () => {
    await postgres?.close();
    fixture?.cleanup();
  });

  test("two hosts' passes at once prune each chain once, and the chain verifies", async () => {
    const config = auditSchema.parse({
      store: { type: "postgres", url, spoolDir: join(fixture.root, "spool"), connectTimeout: 10_000 },
      signingKey: fixture.privateKeyFile,
      checkpointEvery: 10,
      retention: { maxAge: "30d" },
    });
    const trail = createAuditTrail(config, { writer: "host-a-1-a" });
    await writeRecords(trail, 40); // January 2026
    await trail.close();
    const first = capturingLogger();
    const second = capturingLogger();
    const a = startAuditRetention(config, { log: first.log, firstPassAfter: 3_600_000 })!;
    const b = startAuditRetention(config, { log: second.log, firstPassAfter: 3_600_000 })!;
    const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
    await Promise.all([a.stop(), b.stop()]);
    // The advisory lock serialises them: neither pass fails (without it, the second would insert a
    // duplicate prune record and roll back with an error).
    for (const { lines } of [first, second]) {
      assert.deepEqual(
        lines.filter((line) => String(line.msg).startsWith("audit retention pass failed")),
        [],
      );
    }
    const pruned = [...ra, ...rb];
    assert.equal(pruned.length, 1, "one pass pruned the chain, the other found the lock or nothing to do");
    assert.ok(pruned[0]!.records >= 40, String(pruned[0]!.records));
    const left = await postgres.query<{ n: string }>(
      "select count(*) as n from bulwark_audit where writer = $1",
      ["host-a-1-a"],
      "retention",
    );
    assert.equal(Number(left[0]!.n), 0, "every record was older than 30 days");
    const report = await withPostgres(url, async (client) =>
      verifyChains(await readPostgresForVerify(client, "bulwark_audit"), [fixture.publicKey]),
    );
    assert.equal(report.ok, true, JSON.stringify(report.findings));
  });
});
