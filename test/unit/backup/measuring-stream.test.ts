import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { test } from "node:test";
import { discardingSink, measuringStream } from "../../../src/backup/measuring-stream.js";

test("measuringStream: size and SHA-256 of every byte, whatever the chunking", async () => {
  const chunks = [randomBytes(1), randomBytes(70_000), Buffer.alloc(0), randomBytes(3)];
  const whole = Buffer.concat(chunks);
  const seen: number[] = [];
  const measure = measuringStream({ onBytes: (count) => seen.push(count) });
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), measure, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  assert.equal(measure.size(), whole.length);
  assert.equal(measure.sha256(), createHash("sha256").update(whole).digest("hex"));
  assert.equal(measure.sha256(), measure.sha256(), "the digest is kept, not recomputed from an ended hash");
  assert.deepEqual(Buffer.concat(out), whole, "bytes pass through unchanged");
  assert.equal(
    seen.reduce((sum, count) => sum + count, 0),
    whole.length,
  );
});

test("measuringStream: hash: false counts only, and asking for a digest is an error", async () => {
  const measure = measuringStream({ hash: false });
  await pipeline(Readable.from([Buffer.from("abc"), Buffer.from("de")]), measure, discardingSink());
  assert.equal(measure.size(), 5);
  assert.throws(() => measure.sha256(), /hash: false/);
});
