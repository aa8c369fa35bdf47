import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { type ArchiveFormat, expectArchive } from "../../../src/backup/archive-check.js";
import type { BulwarkError } from "../../../src/errors.js";

async function pass(format: ArchiveFormat, pieces: Buffer[]): Promise<number> {
  let bytes = 0;
  await pipeline(
    Readable.from(pieces),
    expectArchive(format, "producer"),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback();
      },
    }),
  );
  return bytes;
}

describe("archive check before encryption", () => {
  it("passes a pg_dump archive through unchanged, even when its magic arrives split", async () => {
    assert.equal(
      await pass("pg_dump custom archive", [Buffer.from("PG"), Buffer.from("DMP rest of archive")]),
      21,
    );
  });

  it("passes a tar whose header says ustar", async () => {
    const header = Buffer.alloc(1024);
    header.write("ustar", 257, "latin1");
    assert.equal(await pass("tar archive", [header.subarray(0, 100), header.subarray(100)]), 1024);
  });

  it("fails empty, short and foreign output so no empty backup is marked complete", async () => {
    for (const [format, pieces, pattern] of [
      ["pg_dump custom archive", [], /empty output/],
      ["pg_dump custom archive", [Buffer.from("PGD")], /only 3 bytes/],
      ["pg_dump custom archive", [Buffer.from("-- SQL dump")], /unexpected first bytes/],
      ["tar archive", [Buffer.alloc(600)], /unexpected first bytes/],
    ] as const) {
      await assert.rejects(
        pass(format, [...pieces]),
        (error: BulwarkError) => error.code === "backup_failed" && pattern.test(error.message),
      );
    }
  });
});
