/**
 * Chains and checkpoints written by a real trail into real files verify; each kind of tampering
 * (edit, delete, insert, swap, cut tail, delete a segment, forged checkpoint) is detected and
 * named with its file, line and seq.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import pino from "pino";
import { chainHash } from "../../../src/audit/record.js";
import { generateSigningKeyPair, loadVerifyingKey } from "../../../src/audit/signing.js";
import { readCheckpointLog, readDirectoryForVerify } from "../../../src/audit/sources.js";
import { type VerifyReport, verifyChains } from "../../../src/audit/verify.js";
import { type AuditFixture, auditFixture, writeRecords } from "./audit-fixture.js";

function verifyDir(fixture: AuditFixture): VerifyReport {
  return verifyChains(readDirectoryForVerify(fixture.dir), [fixture.publicKey]);
}

function segments(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith("seg-"))
    .sort();
}

function readLines(path: string): string[] {
  return readFileSync(path, "utf8").split("\n").slice(0, -1);
}

function writeLines(path: string, lines: readonly string[]): void {
  writeFileSync(path, lines.map((line) => `${line}\n`).join(""));
}

function tamperFinding(report: VerifyReport) {
  assert.equal(report.ok, false, `expected tampering to be found: ${JSON.stringify(report.findings)}`);
  return report.findings.find((finding) => finding.severity === "tamper")!;
}

describe("audit verify: intact chains", () => {
  let fixture: AuditFixture;
  before(() => {
    fixture = auditFixture();
  });
  after(() => fixture.cleanup());

  test("records, rotation and checkpoints verify; files are 0600", async () => {
    const trail = fixture.trail({
      checkpointEvery: 7,
      store: { type: "jsonl", dir: fixture.dir, rotateSize: 2000 },
    });
    const seqs = await writeRecords(trail, 40);
    await trail.close();
    assert.deepEqual(
      seqs,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const files = segments(fixture.dir);
    assert.ok(files.length > 3, `rotation by size made several segments: ${files.join(", ")}`);
    for (const name of readdirSync(fixture.dir)) {
      assert.equal(statSync(join(fixture.dir, name)).mode & 0o777, 0o600, name);
    }
    const report = verifyDir(fixture);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.deepEqual(report.findings, []);
    assert.equal(report.chains.length, 1);
    assert.equal(report.chains[0]!.lastSeq, 40);
    assert.equal(report.chains[0]!.signedThrough, 40, "close() writes a final checkpoint");
    assert.ok(report.chains[0]!.checkpoints >= 6);
  });

  test("several writers in one directory keep separate chains", async () => {
    const a = fixture.trail({}, "host-a-1-x");
    const b = fixture.trail({}, "host-b-2-y");
    await Promise.all([writeRecords(a, 20), writeRecords(b, 20)]);
    await Promise.all([a.close(), b.close()]);
    const report = verifyDir(fixture);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    const writers = report.chains.map((chain) => chain.writer);
    assert.ok(writers.includes("host-a-1-x") && writers.includes("host-b-2-y"));
  });

  test("a wrong public key is reported as an unknown key", () => {
    const other = generateSigningKeyPair();
    const otherFile = join(fixture.root, "other.pub");
    writeFileSync(otherFile, other.publicPem);
    const report = verifyChains(readDirectoryForVerify(fixture.dir), [loadVerifyingKey(otherFile)]);
    assert.equal(tamperFinding(report).kind, "unknown-key");
  });
});

describe("audit verify: tampering is named", () => {
  let fixture: AuditFixture;
  let segment: string;
  let lines: string[];

  beforeEach(async () => {
    fixture?.cleanup();
    fixture = auditFixture();
    // 30 records, one segment, checkpoints every 10 (10, 20, 30).
    const trail = fixture.trail({ checkpointEvery: 10 });
    await writeRecords(trail, 30);
    await trail.close();
    segment = join(fixture.dir, segments(fixture.dir)[0]!);
    lines = readLines(segment);
    assert.equal(lines.length, 30);
    assert.equal(verifyDir(fixture).ok, true);
  });
  after(() => fixture.cleanup());

  const name = () => segments(fixture.dir)[0]!;

  test("an edited field", () => {
    lines[11] = lines[11]!.replace('"outcome":"success"', '"outcome":"failure"');
    writeLines(segment, lines);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "altered");
    assert.equal(finding.seq, 12);
    assert.equal(finding.at, `${name()}:12`);
  });

  test("an edited field with its hash recomputed", () => {
    const record = JSON.parse(lines[11]!);
    record.subject = "someone-else";
    record.hash = chainHash(record);
    lines[11] = JSON.stringify(record);
    writeLines(segment, lines);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "altered");
    assert.equal(finding.seq, 12);
    assert.equal(finding.at, `${name()}:12`);
  });

  test("a deleted line", () => {
    lines.splice(4, 1);
    writeLines(segment, lines);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "removed");
    assert.equal(finding.seq, 5);
    assert.equal(finding.at, `${name()}:5`);
  });

  test("an inserted copy of a line", () => {
    lines.splice(8, 0, lines[2]!);
    writeLines(segment, lines);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "inserted");
    assert.equal(finding.seq, 3);
    assert.equal(finding.at, `${name()}:9`);
  });

  test("an inserted forged record that chains from its predecessor", () => {
    const previous = JSON.parse(lines[5]!);
    const forged = { ...JSON.parse(lines[6]!), subject: "forged", prev: previous.hash };
    forged.hash = chainHash(forged);
    lines.splice(6, 0, JSON.stringify(forged));
    writeLines(segment, lines);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "inserted");
    assert.equal(finding.seq, 7);
    assert.equal(finding.at, `${name()}:7`);
  });

  test("garbage inserted", () => {
    lines.splice(3, 0, "not a record");
    writeLines(segment, lines);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "malformed");
    assert.equal(finding.at, `${name()}:4`);
  });

  test("two lines swapped", () => {
    [lines[14], lines[15]] = [lines[15]!, lines[14]!];
    writeLines(segment, lines);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "reordered");
    assert.equal(finding.seq, 16);
    assert.equal(finding.at, `${name()}:15`);
  });

  test("the tail cut below a checkpoint", () => {
    writeLines(segment, lines.slice(0, 25));
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "truncated");
    assert.match(finding.message, /ends at seq 25.*signs seq 30/);
  });

  test("the tail cut after the last checkpoint is reported as unsigned, not as tampering", async () => {
    // Append 5 records without a closing checkpoint: a crash leaves this.
    const extra = lines.slice(0, 5).map((_, i) => i);
    let prev = JSON.parse(lines[29]!).hash as string;
    for (const i of extra) {
      const record = { ...JSON.parse(lines[i]!), seq: 31 + i, prev };
      record.hash = chainHash(record);
      prev = record.hash;
      lines.push(JSON.stringify(record));
    }
    writeLines(segment, lines);
    let report = verifyDir(fixture);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    const unsigned = report.findings.find((finding) => finding.kind === "unsigned-tail");
    assert.ok(unsigned, "unsigned tail reported");
    assert.equal(unsigned.seq, 31);
    // Cutting inside that unsigned tail cannot be proven; it stays a warning.
    writeLines(segment, lines.slice(0, 33));
    report = verifyDir(fixture);
    assert.equal(report.ok, true);
    assert.equal(report.chains[0]!.lastSeq, 33);
  });

  test("a torn last line (crash during a write) is a warning", () => {
    writeFileSync(segment, `${lines.join("\n")}\n${lines[0]!.slice(0, 40)}`);
    const report = verifyDir(fixture);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
    assert.ok(report.findings.some((finding) => finding.kind === "torn-line"));
  });

  test("a forged checkpoint signature", () => {
    const file = join(fixture.dir, readdirSync(fixture.dir).find((n) => n.startsWith("ckp-"))!);
    const checkpoints = readLines(file);
    const record = JSON.parse(checkpoints[0]!);
    record.seq = 9;
    checkpoints[0] = JSON.stringify(record);
    writeLines(file, checkpoints);
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "signature");
    assert.match(finding.at!, /^ckp-.*:1$/);
  });
});

describe("audit verify: segments", () => {
  let fixture: AuditFixture;
  beforeEach(async () => {
    fixture?.cleanup();
    fixture = auditFixture();
    const trail = fixture.trail({
      checkpointEvery: 5,
      store: { type: "jsonl", dir: fixture.dir, rotateSize: 1500 },
    });
    await writeRecords(trail, 30);
    await trail.close();
    assert.ok(segments(fixture.dir).length >= 4);
  });
  after(() => fixture.cleanup());

  test("a deleted middle segment", () => {
    const files = segments(fixture.dir);
    const victim = files[1]!;
    const firstMissing = Number(/-(\d{12})\.jsonl$/.exec(victim)![1]);
    const next = files[2]!;
    rmSync(join(fixture.dir, victim));
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "removed");
    assert.equal(finding.seq, firstMissing);
    assert.equal(finding.at, `${next}:1`);
  });

  test("a deleted first segment", () => {
    rmSync(join(fixture.dir, segments(fixture.dir)[0]!));
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "removed");
    assert.equal(finding.seq, 1);
  });

  test("a deleted last segment", () => {
    const files = segments(fixture.dir);
    rmSync(join(fixture.dir, files[files.length - 1]!));
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "truncated");
  });

  test("every segment deleted", () => {
    for (const file of segments(fixture.dir)) rmSync(join(fixture.dir, file));
    const finding = tamperFinding(verifyDir(fixture));
    assert.equal(finding.kind, "truncated");
    assert.match(finding.message, /no records/);
  });
});

describe("audit verify: checkpoints logged by the gateway", () => {
  let fixture: AuditFixture;
  after(() => fixture.cleanup());

  test("a cut of the tail and of the checkpoint file together is caught by the checkpoint log", async () => {
    fixture = auditFixture();
    const logFile = join(fixture.root, "gateway.log");
    const log = pino({ level: "info" }, pino.destination({ dest: logFile, sync: true }));
    const trail = fixture.trail({ checkpointEvery: 10 }, undefined, { log });
    await writeRecords(trail, 30);
    await trail.close();
    const segment = join(fixture.dir, segments(fixture.dir)[0]!);
    const checkpointFile = join(fixture.dir, readdirSync(fixture.dir).find((n) => n.startsWith("ckp-"))!);
    writeLines(segment, readLines(segment).slice(0, 25));
    writeLines(checkpointFile, readLines(checkpointFile).slice(0, 2));

    // The directory alone cannot tell: records 21..25 look like a crash's unsigned tail.
    const alone = verifyDir(fixture);
    assert.equal(alone.ok, true);
    assert.ok(alone.findings.some((finding) => finding.kind === "unsigned-tail"));

    const anchors = readCheckpointLog(logFile);
    assert.deepEqual(
      anchors.map((anchor) => anchor.seq),
      [10, 20, 30],
    );
    const report = verifyChains({ ...readDirectoryForVerify(fixture.dir), anchors }, [fixture.publicKey]);
    const finding = tamperFinding(report);
    assert.equal(finding.kind, "truncated");
    assert.match(
      finding.message,
      /ends at seq 25, but the checkpoint logged at gateway\.log:\d+ names seq 30/,
    );
  });
});
