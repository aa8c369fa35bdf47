/**
 * The trail against real files: many concurrent records keep one valid chain, a full queue
 * drops events and says so in the chain, `available` and recordDurable fail closed when the
 * store cannot write, and the config schema describes every key.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import { z } from "zod";
import { segmentName } from "../../../src/audit/layout.js";
import { readDirectoryRecords } from "../../../src/audit/query.js";
import { auditSchema, routeAuditSchema } from "../../../src/audit/schema.js";
import { readDirectoryForVerify } from "../../../src/audit/sources.js";
import { verifyChains } from "../../../src/audit/verify.js";
import { isBulwarkError } from "../../../src/errors.js";
import { type AuditFixture, auditFixture, sampleEvent } from "./audit-fixture.js";

describe("audit trail", () => {
  let fixture: AuditFixture;
  beforeEach(() => {
    fixture = auditFixture();
  });
  afterEach(() => fixture.cleanup());

  test("3000 concurrent durable records: unique seqs, one valid chain", async () => {
    const trail = fixture.trail({ checkpointEvery: 250 });
    const receipts = await Promise.all(
      Array.from({ length: 3000 }, (_, i) => trail.recordDurable(sampleEvent(i))),
    );
    const seqs = receipts.map((receipt) => receipt.seq).sort((a, b) => a - b);
    assert.deepEqual(
      seqs,
      Array.from({ length: 3000 }, (_, i) => i + 1),
    );
    // Interleaved fire-and-forget records join the same chain.
    for (let i = 0; i < 500; i++) trail.record(sampleEvent(i));
    await trail.close();
    const report = verifyChains(readDirectoryForVerify(fixture.dir), [fixture.publicKey]);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.equal(report.chains[0]!.lastSeq, 3500);
    assert.equal(report.chains[0]!.signedThrough, 3500);
  });

  test("a full queue drops events and the chain records how many", async () => {
    const trail = fixture.trail({ queueSize: 10 });
    for (let i = 0; i < 100; i++) trail.record(sampleEvent(i));
    assert.equal(trail.available, false, "a full queue cannot take required records");
    await trail.flush();
    assert.equal(trail.available, true);
    trail.record(sampleEvent(100));
    await trail.close();
    const records = [];
    for await (const record of readDirectoryRecords(fixture.dir)) records.push(record);
    const dropped = records.find((record) => record.kind === "dropped");
    assert.ok(dropped && dropped.kind === "dropped");
    const events = records.filter((record) => record.kind === "event");
    // The writer takes the first record at once, so 10 or 11 fit; the rest are counted.
    assert.ok(dropped.count >= 89 && dropped.count <= 90, `dropped ${dropped.count}`);
    assert.equal(events.length - 1 + dropped.count, 100, "every event is either stored or counted");
    assert.equal(verifyChains(readDirectoryForVerify(fixture.dir), [fixture.publicKey]).ok, true);
  });

  test("a failing store fails closed and recovers without breaking the chain", async () => {
    const writer = "failing-1-a";
    const trail = fixture.trail({ store: { type: "jsonl", dir: fixture.dir, rotateSize: 1 } }, writer);
    await trail.recordDurable(sampleEvent(0));
    // Every write opens a new segment (rotateSize 1). A directory squatting on the next segment's
    // name makes that open fail, even for root.
    const blocker = join(fixture.dir, segmentName(writer, 2));
    mkdirSync(blocker);
    await assert.rejects(
      trail.recordDurable(sampleEvent(1)),
      (error) => isBulwarkError(error) && error.code === "audit_unavailable",
    );
    assert.equal(trail.available, false);
    await assert.rejects(
      trail.recordDurable(sampleEvent(2)),
      (error) => isBulwarkError(error) && error.code === "audit_unavailable",
    );
    trail.record(sampleEvent(3));
    rmdirSync(blocker);
    // The queued record is retried once the store can write again.
    const deadline = Date.now() + 10_000;
    while (!trail.available && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const receipt = await trail.recordDurable(sampleEvent(4));
    await trail.close();
    const report = verifyChains(readDirectoryForVerify(fixture.dir), [fixture.publicKey]);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.equal(report.chains[0]!.lastSeq, receipt.seq);
    const ids = [];
    for await (const record of readDirectoryRecords(fixture.dir))
      if (record.kind === "event") ids.push(record.resource.id);
    assert.deepEqual(ids, ["0", "3", "4"]);
  });

  test("with only required traffic, the store is tried again after a failure", async () => {
    const writer = "failing-2-b";
    const trail = fixture.trail({ store: { type: "jsonl", dir: fixture.dir, rotateSize: 1 } }, writer);
    await trail.recordDurable(sampleEvent(0));
    const blocker = join(fixture.dir, segmentName(writer, 2));
    mkdirSync(blocker);
    await assert.rejects(
      trail.recordDurable(sampleEvent(1)),
      (error) => isBulwarkError(error) && error.code === "audit_unavailable",
    );
    assert.equal(trail.available, false);
    rmdirSync(blocker);
    const deadline = Date.now() + 10_000;
    while (!trail.available && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(trail.available, true, "available again without any queued record driving a retry");
    assert.equal((await trail.recordDurable(sampleEvent(2))).seq, 2);
    await trail.close();
    assert.equal(verifyChains(readDirectoryForVerify(fixture.dir), [fixture.publicKey]).ok, true);
  });

  test("no secret-looking value reaches the files", async () => {
    const trail = fixture.trail();
    await trail.recordDurable({
      action: "token.rejected",
      outcome: "failure",
      subject: "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
      reason: "unauthorized",
      headers: { cookie: "session=abc" },
    } as never);
    await trail.close();
    const text = readdirSync(fixture.dir)
      .map((name) => readFileSync(join(fixture.dir, name), "utf8"))
      .join("");
    assert.ok(!text.includes("eyJhbGci") && !text.includes("session=abc"));
    assert.match(text, /"refused":\["subject"\]/);
  });

  test("a bad signing key is refused at creation with a clear error", () => {
    assert.throws(
      () => fixture.trail({ signingKey: fixture.publicKeyFile }),
      (error) =>
        isBulwarkError(error) && error.code === "audit_key_invalid" && /private key/.test(error.message),
    );
  });
});

describe("audit config schema", () => {
  after(() => undefined);

  test("every key has a description", () => {
    const missing: string[] = [];
    const walk = (schema: unknown, path: string) => {
      if (typeof schema !== "object" || schema === null) return;
      const node = schema as {
        properties?: Record<string, { description?: string }>;
        anyOf?: unknown[];
        oneOf?: unknown[];
      };
      for (const [key, value] of Object.entries(node.properties ?? {})) {
        if (!value.description) missing.push(`${path}.${key}`);
        walk(value, `${path}.${key}`);
      }
      for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? [])]) walk(branch, path);
    };
    walk(z.toJSONSchema(auditSchema, { io: "input", unrepresentable: "any" }), "audit");
    assert.deepEqual(missing, []);
    assert.ok(routeAuditSchema.description);
  });

  test("defaults, and strict keys", () => {
    const config = auditSchema.parse({
      store: { type: "jsonl", dir: "/var/lib/bulwark/audit" },
      signingKey: "k.pem",
    });
    assert.equal(config.store.type, "jsonl");
    assert.equal(config.checkpointEvery, 1000);
    assert.equal(config.checkpointInterval, 60_000);
    if (config.store.type === "jsonl") {
      assert.equal(config.store.durability, "record");
      assert.equal(config.store.rotateSize, 64 * 1024 * 1024);
    }
    assert.equal(
      auditSchema.safeParse({ store: { type: "jsonl", dir: "x", fsync: true }, signingKey: "k" }).success,
      false,
    );
    assert.equal(
      auditSchema.safeParse({
        store: { type: "postgres", url: "postgres://x", table: "Drop Table" },
        signingKey: "k",
      }).success,
      false,
    );
    assert.deepEqual(
      [true, false, "required"].map((value) => routeAuditSchema.safeParse(value).success),
      [true, true, true],
    );
    assert.equal(routeAuditSchema.safeParse("maybe").success, false);
  });
});
