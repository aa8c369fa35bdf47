/**
 * The pure parts of split backups: the balancing plan, exact table patterns, the post-data waves
 * of a pg_restore list (with a bounded fuzz), the format-2 manifest schema and its MAC, and
 * --jobs parsing.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { keyFromBytes } from "../../../src/backup/backup-key.js";
import { jobsFrom } from "../../../src/backup/config.js";
import { manifestSchema } from "../../../src/backup/manifest.js";
import { manifestMac, verifyManifestMac } from "../../../src/backup/manifest-mac.js";
import { postDataWaves } from "../../../src/backup/restore-list.js";
import { exactTablePattern, MIN_SPLIT_TABLE_BYTES, planSplit } from "../../../src/backup/split-plan.js";
import type { BulwarkError } from "../../../src/errors.js";

const MiB = 1024 * 1024;
const table = (name: string, mib: number) => ({ schema: "public", name, bytes: mib * MiB });

describe("planSplit", () => {
  it("balances big tables over jobs - 1 data streams and the schema stream, largest first", () => {
    const plan = planSplit(
      [table("a", 100), table("b", 60), table("c", 50), table("d", 10), table("small", 0.5)],
      3,
    );
    // a → data 1, b → data 2, c → schema (0.5 MiB so far), d → schema (50.5 < 60).
    assert.deepEqual(
      plan.parts.map((part) => part.tables.map((entry) => entry.name)),
      [["a"], ["b"]],
    );
    assert.deepEqual(
      plan.parts.map((part) => part.tableBytes),
      [100 * MiB, 60 * MiB],
    );
    assert.equal(plan.schemaBytes, 60.5 * MiB);
  });

  it("keeps tables below the minimum with the schema, and has no empty parts", () => {
    assert.deepEqual(planSplit([table("a", 0.9), table("b", 0.2)], 4).parts, []);
    const plan = planSplit([table("only", 5)], 8);
    assert.equal(plan.parts.length, 1);
    assert.equal(plan.schemaBytes, 0);
  });

  it("puts every table in exactly one place and never more than jobs - 1 parts", () => {
    for (let round = 0; round < 200; round++) {
      const jobs = 2 + (round % 7);
      const tables = Array.from({ length: round % 40 }, (_, index) => ({
        schema: `s${index % 3}`,
        name: `t${index}`,
        bytes: Math.floor(Math.random() * 20 * MiB),
      }));
      const plan = planSplit(tables, jobs);
      assert.ok(plan.parts.length <= jobs - 1);
      const placed = plan.parts.flatMap((part) =>
        part.tables.map((entry) => `${entry.schema}.${entry.name}`),
      );
      assert.equal(new Set(placed).size, placed.length);
      const bytes = plan.parts.reduce((sum, part) => sum + part.tableBytes, 0) + plan.schemaBytes;
      assert.equal(
        bytes,
        tables.reduce((sum, entry) => sum + entry.bytes, 0),
      );
      for (const part of plan.parts) {
        assert.ok(part.tables.length > 0);
        for (const entry of part.tables) {
          const original = tables.find((candidate) => candidate.name === entry.name)!;
          assert.ok(original.bytes >= MIN_SPLIT_TABLE_BYTES);
        }
      }
    }
  });
});

describe("exactTablePattern", () => {
  it("double-quotes both parts and doubles quotes inside", () => {
    assert.equal(exactTablePattern({ schema: "public", name: "users" }), '"public"."users"');
    assert.equal(
      exactTablePattern({ schema: "Odd Schema", name: 'Odd.Table "Q" *' }),
      '"Odd Schema"."Odd.Table ""Q"" *"',
    );
  });
});

const LIST = `;
; Archive created at 2026-11-26 16:26:32 UTC
;     dbname: src
;
; Selected TOC Entries:
;
3226; 2606 16393 CONSTRAINT public big big_pkey postgres
3230; 2606 16405 CONSTRAINT public child child_pkey postgres
3231; 1259 16426 INDEX public parted_at_idx postgres
3234; 1259 16427 INDEX public parted_a_at_idx postgres
3240; 0 0 INDEX ATTACH public parted_a_at_idx postgres
3244; 2606 16406 FK CONSTRAINT public child child_big_id_fkey postgres
3250; 2620 16500 TRIGGER public child child_touch postgres
3251; 0 0 COMMENT public INDEX parted_at_idx postgres
`;

describe("postDataWaves", () => {
  it("runs indexes and keys in parallel lists, in archive order, and the rest after", () => {
    const waves = postDataWaves(LIST, 3);
    assert.deepEqual(waves.counts, { parallel: 4, rest: 4 });
    assert.deepEqual(waves.parallel, [
      "3226; 2606 16393 CONSTRAINT public big big_pkey postgres\n3234; 1259 16427 INDEX public parted_a_at_idx postgres\n",
      "3230; 2606 16405 CONSTRAINT public child child_pkey postgres\n",
      "3231; 1259 16426 INDEX public parted_at_idx postgres\n",
    ]);
    assert.equal(
      waves.rest,
      [
        "3240; 0 0 INDEX ATTACH public parted_a_at_idx postgres",
        "3244; 2606 16406 FK CONSTRAINT public child child_big_id_fkey postgres",
        "3250; 2620 16500 TRIGGER public child child_touch postgres",
        "3251; 0 0 COMMENT public INDEX parted_at_idx postgres",
        "",
      ].join("\n"),
    );
  });

  it("gives no lists for an empty list, and never drops or duplicates an entry (fuzz, 2 s)", () => {
    assert.deepEqual(postDataWaves("", 4), { parallel: [], rest: "", counts: { parallel: 0, rest: 0 } });
    const descriptions = ["INDEX", "CONSTRAINT", "FK CONSTRAINT", "INDEX ATTACH", "TRIGGER", "ACL", "RULE"];
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      const lines: string[] = [];
      const count = Math.floor(Math.random() * 30);
      for (let index = 0; index < count; index++) {
        const roll = Math.random();
        if (roll < 0.1) lines.push(`; comment ${randomBytes(4).toString("hex")}`);
        else if (roll < 0.15) lines.push(randomBytes(12).toString("latin1"));
        else
          lines.push(
            `${index + 1}; ${index} ${index * 7} ${descriptions[index % descriptions.length]} public "n ${randomBytes(3).toString("hex")}" owner`,
          );
      }
      const list = lines.join(Math.random() < 0.5 ? "\n" : "\r\n");
      const waves = postDataWaves(list, 1 + Math.floor(Math.random() * 6));
      const entries = lines.filter((line) => /^\d+; \d+ \d+ /.test(line));
      const out = [...waves.parallel.join(""), waves.rest].join("").split("\n").filter(Boolean);
      assert.deepEqual(out.sort(), [...entries].sort());
      assert.ok(waves.parallel.every((entriesOfList) => entriesOfList.length > 0));
    }
  });
});

function splitManifest() {
  return {
    kind: "bulwark-backup",
    formatVersion: 2,
    id: "20261126T104900Z-3f9a1c",
    database: "app",
    source: "postgres://backup@db/app",
    serverVersion: "15.18",
    startedAt: "2026-11-26T10:49:00.000Z",
    finishedAt: "2026-11-26T10:50:00.000Z",
    snapshot: { id: "00000003-00000079-1", takenAt: "2026-11-26T10:49:00.100Z" },
    tool: { name: "bulwark", version: "0.1.0", pgDump: "pg_dump (PostgreSQL) 15.18" },
    dump: {
      format: "split",
      compression: 1,
      jobs: 3,
      minTableBytes: MIN_SPLIT_TABLE_BYTES,
      schemaArtifact: "schema.bwenc",
      parts: [
        { artifact: "data-0001.bwenc", tableBytes: 5 * MiB, tables: [{ schema: "public", name: "big" }] },
      ],
    },
    encryption: {
      algorithm: "aes-256-gcm-stream-v1",
      keyId: "0123456789abcdef",
      keyKind: "file",
      chunkSize: 1048576,
    },
    artifacts: [
      { name: "schema.bwenc", size: 10, sha256: "a".repeat(64) },
      { name: "data-0001.bwenc", size: 20, sha256: "b".repeat(64) },
    ],
    size: 30,
    checksumAlgorithm: "sum-xor-column-hash-v1",
    tables: [{ schema: "public", name: "big", rows: 1, checksum: "7", method: "columns" }],
    mac: "c".repeat(64),
  };
}

describe("format-2 manifests", () => {
  it("parse; the artifacts must be the ones the dump names; format 1 stays custom only", () => {
    assert.equal(manifestSchema.safeParse(splitManifest()).success, true);
    const missing = splitManifest();
    missing.artifacts.pop();
    assert.equal(manifestSchema.safeParse(missing).success, false);
    const extra = splitManifest();
    extra.artifacts.push({ name: "data-0002.bwenc", size: 1, sha256: "d".repeat(64) });
    assert.equal(manifestSchema.safeParse(extra).success, false);
    const v1Split = { ...splitManifest(), formatVersion: 1 };
    assert.equal(manifestSchema.safeParse(v1Split).success, false);
    const v1 = {
      ...splitManifest(),
      formatVersion: 1,
      dump: { format: "custom", compression: 1 },
      artifacts: [{ name: "dump.bwenc", size: 30, sha256: "a".repeat(64) }],
    };
    assert.equal(manifestSchema.safeParse(v1).success, true);
  });

  it("refuses mutated manifests without throwing (fuzz, 2 s)", () => {
    const deadline = Date.now() + 2000;
    const values: unknown[] = [null, 0, -1, 2, 65, "", "x", "schema.bwenc", "../x", [], {}, true, 1.5];
    while (Date.now() < deadline) {
      const manifest = structuredClone(splitManifest()) as unknown as Record<string, unknown>;
      // Walk to a random object in the manifest and replace or delete one of its members.
      let node: Record<string, unknown> = manifest;
      for (let depth = 0; depth < 4; depth++) {
        const keys = Object.keys(node);
        const child = node[keys[Math.floor(Math.random() * keys.length)]!];
        if (child === null || typeof child !== "object" || Math.random() < 0.3) break;
        node = child as Record<string, unknown>;
      }
      const keys = Object.keys(node);
      const key = keys[Math.floor(Math.random() * keys.length)];
      if (key === undefined) continue;
      if (Math.random() < 0.2) delete node[key];
      else node[key] = values[Math.floor(Math.random() * values.length)];
      const parsed = manifestSchema.safeParse(manifest);
      if (parsed.success) {
        // Whatever is accepted still names exactly its artifacts.
        const dump = parsed.data.dump;
        const named =
          dump.format === "split"
            ? [dump.schemaArtifact, ...dump.parts.map((part) => part.artifact)]
            : ["dump.bwenc"];
        assert.deepEqual(named.sort(), parsed.data.artifacts.map((artifact) => artifact.name).sort());
      }
    }
  });

  it("the MAC covers which artifact holds which tables", async () => {
    const key = keyFromBytes(randomBytes(32));
    const unsigned = splitManifest();
    const signed = { ...unsigned, mac: await manifestMac(unsigned, key) };
    await verifyManifestMac(signed, key);
    const moved = structuredClone(signed);
    moved.dump.parts[0]!.tables[0]!.name = "other";
    const renamed = structuredClone(signed);
    renamed.dump.schemaArtifact = "data-0001.bwenc";
    for (const changed of [moved, renamed]) {
      await assert.rejects(
        verifyManifestMac(changed, key),
        (error: BulwarkError) => error.code === "backup_corrupt",
      );
    }
  });
});

describe("--jobs", () => {
  it("accepts 1..64, defaults to backup.jobs then 1, and refuses anything else", () => {
    assert.equal(jobsFrom(undefined, {}), 1);
    assert.equal(jobsFrom(undefined, { jobs: 4 }), 4);
    assert.equal(jobsFrom("2", { jobs: 4 }), 2);
    assert.equal(jobsFrom("64", {}), 64);
    for (const bad of ["0", "65", "-1", "2.5", "", " 2", "1e1", "three", "0x2", "100"]) {
      assert.throws(
        () => jobsFrom(bad, {}),
        (error: BulwarkError) =>
          error.code === "usage" && /--jobs must be a whole number from 1 to 64/.test(error.message),
        bad,
      );
    }
  });
});
