/**
 * `bulwark audit` as users run it (the built binary): keygen, verify exit codes and messages,
 * query and export with filters, prune with a signed prune record that verify accepts, and the
 * PostgreSQL store through --postgres.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { auditSchema } from "../../../src/audit/schema.js";
import { createAuditTrail } from "../../../src/audit/trail.js";
import { runCli } from "../../support/cli.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import {
  type AuditFixture,
  auditFixture,
  sampleEvent,
  writeRecords,
} from "../../unit/audit/audit-fixture.js";

describe("bulwark audit (CLI)", () => {
  let fixture: AuditFixture;
  before(async () => {
    fixture = auditFixture();
    const trail = fixture.trail({ checkpointEvery: 10 });
    await writeRecords(trail, 60);
    trail.record({
      action: "admin.keys.revoke",
      outcome: "success",
      subject: "=cmd|' /C calc'!A0",
      time: Date.UTC(2026, 0, 2),
    });
    await trail.close();
  });
  after(() => fixture.cleanup());

  test("keygen writes a 0600 private key and prints the public key; refuses to overwrite", async () => {
    const out = join(fixture.root, "new.key");
    const result = await runCli(["audit", "keygen", "--out", out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.match(readFileSync(out, "utf8"), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(result.stdout, readFileSync(`${out}.pub`, "utf8"));
    assert.match(result.stdout, /^-----BEGIN PUBLIC KEY-----/);
    assert.ok(!result.stdout.includes("PRIVATE") && !result.stderr.includes("PRIVATE KEY-----"));
    const again = await runCli(["audit", "keygen", "--out", out]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists; refusing to overwrite/);
  });

  test("verify: 0 when intact, 1 naming the record when tampered, 2 on bad usage", async () => {
    const ok = await runCli(["audit", "verify", fixture.dir, "--public-key", fixture.publicKeyFile]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /61 records, seq 1\.\.61, \d+ checkpoints, signed through seq 61/);

    const json = await runCli([
      "audit",
      "verify",
      fixture.dir,
      "--public-key",
      fixture.publicKeyFile,
      "--format",
      "json",
    ]);
    assert.equal(json.code, 0);
    const evidence = JSON.parse(json.stdout);
    assert.equal(evidence.kind, "audit-verify");
    assert.equal(evidence.version, 1);
    assert.equal(evidence.ok, true);
    assert.deepEqual(evidence.keyIds, [fixture.publicKey.keyId]);
    assert.equal(evidence.chains[0].lastSeq, 61);

    const usage = [
      [["audit", "verify", fixture.dir], /--public-key FILE is required/],
      [
        ["audit", "verify", join(fixture.root, "missing"), "--public-key", fixture.publicKeyFile],
        /is not a directory/,
      ],
      [["audit", "verify", fixture.root, "--public-key", fixture.publicKeyFile], /holds no audit files/],
      [
        ["audit", "verify", fixture.dir, "--public-key", fixture.privateKeyFile],
        /is a private key; give the public key/,
      ],
      [["audit", "frobnicate"], /unknown subcommand/],
      [
        [
          "audit",
          "verify",
          fixture.dir,
          "--public-key",
          fixture.publicKeyFile,
          "--checkpoint-log",
          join(fixture.root, "none.log"),
        ],
        /cannot read the log/,
      ],
      [
        ["audit", "query", fixture.dir, "--since", "last tuesday"],
        /--since "last tuesday": expected an ISO 8601 time/,
      ],
      [["audit", "query", fixture.dir, "--outcome", "meh"], /--outcome "meh": expected one of/],
      [
        ["audit", "prune", fixture.dir, "--older-than", "soon", "--private-key", fixture.privateKeyFile],
        /expected an age/,
      ],
    ] as const;
    for (const [args, message] of usage) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.ok(!/\n\s+at /.test(result.stderr), "no stack trace");
    }
  });

  test("query filters and formats; export writes JSONL and injection-safe CSV atomically", async () => {
    const failures = await runCli([
      "audit",
      "query",
      fixture.dir,
      "--outcome",
      "failure",
      "--format",
      "json",
      "--limit",
      "1000",
    ]);
    assert.equal(failures.code, 0, failures.stderr);
    const records = JSON.parse(failures.stdout) as { outcome: string; action: string; seq: number }[];
    assert.equal(records.length, 20, "every third of 60 records failed");
    assert.ok(records.every((record) => record.outcome === "failure" && record.action === "token.rejected"));

    const ranged = await runCli([
      "audit",
      "query",
      fixture.dir,
      "--subject",
      "user-1",
      "--since",
      "2026-01-01T00:00:10Z",
      "--until",
      "2026-01-01T00:00:40Z",
      "--format",
      "json",
    ]);
    const subjects = JSON.parse(ranged.stdout) as { subject: string; time: string }[];
    assert.deepEqual(
      subjects.map((record) => record.time),
      [
        "2026-01-01T00:00:11.000Z",
        "2026-01-01T00:00:16.000Z",
        "2026-01-01T00:00:21.000Z",
        "2026-01-01T00:00:26.000Z",
        "2026-01-01T00:00:31.000Z",
        "2026-01-01T00:00:36.000Z",
      ],
    );

    const table = await runCli(["audit", "query", fixture.dir, "--action", "admin.*"]);
    assert.equal(table.code, 0);
    assert.match(table.stderr, /^time\s+action\s+outcome/m);
    assert.match(table.stderr, /admin\.keys\.revoke/);
    assert.match(table.stderr, /1 of 1 matching records/);

    const csvFile = join(fixture.root, "export.csv");
    const csv = await runCli([
      "audit",
      "export",
      fixture.dir,
      "--format",
      "csv",
      "--out",
      csvFile,
      "--action",
      "admin.*",
    ]);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = readFileSync(csvFile, "utf8").split("\r\n");
    assert.equal(
      rows[0],
      "time,action,outcome,subject,method,route,id,status,clientIp,requestId,traceId,reason,writer,seq",
    );
    assert.match(rows[1]!, /,'=cmd\|' \/C calc'!A0,/, "a formula-looking cell is neutralised");
    assert.deepEqual(
      readdirSync(fixture.root).filter((name) => name.endsWith(".tmp")),
      [],
    );

    const jsonl = await runCli(["audit", "export", fixture.dir]);
    assert.equal(jsonl.stdout.trim().split("\n").length, 61);
    const segment = readdirSync(fixture.dir).find((name) => name.startsWith("seg-"))!;
    assert.equal(
      jsonl.stdout,
      readFileSync(join(fixture.dir, segment), "utf8"),
      "export writes the stored lines",
    );
  });

  test("tampered directory: exit 1 and the first altered record named", async () => {
    const copy = auditFixture();
    try {
      const trail = createAuditTrail(
        auditSchema.parse({ store: { type: "jsonl", dir: copy.dir }, signingKey: copy.privateKeyFile }),
      );
      await writeRecords(trail, 10);
      await trail.close();
      const segment = readdirSync(copy.dir).find((name) => name.startsWith("seg-"))!;
      const lines = readFileSync(join(copy.dir, segment), "utf8").split("\n");
      assert.match(lines[6]!, /"subject":"user-1"/);
      lines[6] = lines[6]!.replace('"subject":"user-1"', '"subject":"user-9"');
      writeFileSync(join(copy.dir, segment), lines.join("\n"));
      const result = await runCli(["audit", "verify", copy.dir, "--public-key", copy.publicKeyFile]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`TAMPERED altered at ${segment.replace(/\./g, "\\.")}:7 seq 7`));
      assert.match(result.stderr, /result: tampering found/);
    } finally {
      copy.cleanup();
    }
  });

  test("prune removes old segments with a signed prune record that verify accepts", async () => {
    const pruned = auditFixture();
    try {
      const trail = pruned.trail({
        checkpointEvery: 5,
        store: { type: "jsonl", dir: pruned.dir, rotateSize: 1200 },
      });
      // sampleEvent times are in January 2026; the newest segment's file is left recent.
      await writeRecords(trail, 30);
      await trail.close();
      const before = readdirSync(pruned.dir)
        .filter((name) => name.startsWith("seg-"))
        .sort();
      assert.ok(before.length >= 4);
      // Age every file but the newest, as if written long ago.
      const old = new Date("2026-01-01T00:00:00Z");
      for (const name of before.slice(0, -1)) utimesSync(join(pruned.dir, name), old, old);

      const dry = await runCli([
        "audit",
        "prune",
        pruned.dir,
        "--older-than",
        "1d",
        "--private-key",
        pruned.privateKeyFile,
        "--dry-run",
      ]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stderr, /would prune chain/);
      assert.equal(readdirSync(pruned.dir).filter((name) => name.startsWith("seg-")).length, before.length);

      const result = await runCli([
        "audit",
        "prune",
        pruned.dir,
        "--older-than",
        "1d",
        "--private-key",
        pruned.privateKeyFile,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const keptFrom = Number(/now starts at seq (\d+)/.exec(result.stderr)![1]);
      const after = readdirSync(pruned.dir).filter((name) => name.startsWith("seg-"));
      assert.deepEqual(after, before.slice(-1), "all but the newest (still recent) segment pruned");
      assert.ok(existsSync(join(pruned.dir, "prune.jsonl")));

      const verify = await runCli(["audit", "verify", pruned.dir, "--public-key", pruned.publicKeyFile]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stderr, new RegExp(`pruned before seq ${keptFrom}`));

      // A forged prune record (its signature no longer matches) is tampering.
      const pruneFile = join(pruned.dir, "prune.jsonl");
      writeFileSync(pruneFile, readFileSync(pruneFile, "utf8").replace(/"records":\d+/, '"records":1'));
      const forged = await runCli(["audit", "verify", pruned.dir, "--public-key", pruned.publicKeyFile]);
      assert.equal(forged.code, 1);
      assert.match(forged.stderr, /TAMPERED signature at prune\.jsonl:1/);
    } finally {
      pruned.cleanup();
    }
  });
});

describe("bulwark audit --postgres", () => {
  let postgres: TestPostgres;
  let fixture: AuditFixture;
  let url: string;
  before(async () => {
    postgres = await startPostgres();
    url = await postgres.createDatabase("audit");
    fixture = auditFixture();
    const trail = createAuditTrail(
      auditSchema.parse({
        store: { type: "postgres", url, spoolDir: join(fixture.root, "spool") },
        signingKey: fixture.privateKeyFile,
        checkpointEvery: 10,
      }),
    );
    await writeRecords(trail, 45);
    trail.record({ ...sampleEvent(1000), time: Date.now() });
    await trail.close();
  });
  after(async () => {
    await postgres?.close();
    fixture?.cleanup();
  });

  test("verify, query, export and prune against the PostgreSQL store", async () => {
    const verify = await runCli([
      "audit",
      "verify",
      "--postgres",
      url,
      "--public-key",
      fixture.publicKeyFile,
    ]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stderr, /46 records, seq 1\.\.46/);

    const query = await runCli([
      "audit",
      "query",
      "--postgres",
      url,
      "--action",
      "token.rejected",
      "--format",
      "json",
      "--limit",
      "500",
    ]);
    assert.equal(query.code, 0, query.stderr);
    assert.equal(JSON.parse(query.stdout).length, 15);

    const csv = await runCli([
      "audit",
      "export",
      "--postgres",
      url,
      "--format",
      "csv",
      "--outcome",
      "failure",
    ]);
    assert.equal(csv.stdout.trim().split("\r\n").length, 1 + 15);

    const prune = await runCli([
      "audit",
      "prune",
      "--postgres",
      url,
      "--older-than",
      "1d",
      "--private-key",
      fixture.privateKeyFile,
    ]);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stderr, /pruned chain .*: 45 records; it now starts at seq 46/);
    const after = await runCli(["audit", "verify", "--postgres", url, "--public-key", fixture.publicKeyFile]);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stderr, /1 records, seq 46\.\.46.*pruned before seq 46/);

    const missingTable = await runCli(["audit", "query", "--postgres", url, "--table", "nope"]);
    assert.equal(missingTable.code, 2);
    assert.match(missingTable.stderr, /no audit table nope/);
    const down = await runCli([
      "audit",
      "verify",
      "--postgres",
      "postgres://postgres:x@127.0.0.1:1/x",
      "--public-key",
      fixture.publicKeyFile,
    ]);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /cannot connect to postgres/);
  });
});
