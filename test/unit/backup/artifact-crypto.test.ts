import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, describe, it } from "node:test";
import { createDecryptStream, createEncryptStream, TAG_LENGTH } from "../../../src/backup/artifact-crypto.js";
import { HEADER_LENGTH, parseHeader } from "../../../src/backup/artifact-header.js";
import {
  type BackupKey,
  generateKeyFile,
  keyFromBytes,
  keyFromPassphrase,
  readKeyFile,
} from "../../../src/backup/backup-key.js";
import { BulwarkError } from "../../../src/errors.js";

const CHUNK_LOG2 = 16;
const CHUNK = 2 ** CHUNK_LOG2;

async function collect(source: Readable, transform: Transform): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(source, transform, async (stream: AsyncIterable<Buffer>) => {
    for await (const part of stream) parts.push(part);
  });
  return Buffer.concat(parts);
}

/** Feeds the input in uneven pieces, as a pipe would. */
function pieces(data: Buffer): Readable {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const size = 1 + Math.floor(Math.random() * 70_000);
    out.push(data.subarray(at, at + size));
    at += size;
  }
  return Readable.from(out);
}

async function encrypt(key: BackupKey, plain: Buffer): Promise<Buffer> {
  return collect(pieces(plain), await createEncryptStream(key, { chunkLog2: CHUNK_LOG2 }));
}

async function decrypt(key: BackupKey, artifact: Buffer): Promise<Buffer> {
  return collect(pieces(artifact), createDecryptStream(key));
}

async function decryptError(key: BackupKey, artifact: Buffer): Promise<BulwarkError> {
  try {
    await decrypt(key, artifact);
  } catch (error) {
    assert.ok(error instanceof BulwarkError, `expected a BulwarkError, got ${String(error)}`);
    return error;
  }
  assert.fail("decryption succeeded on a bad artifact");
}

const key = keyFromBytes(randomBytes(32));
const otherKey = keyFromBytes(randomBytes(32));
const sealedChunk = CHUNK + TAG_LENGTH;

describe("artifact encryption", () => {
  it("round-trips empty, small, exact-multiple and multi-chunk inputs", async () => {
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 12345]) {
      const plain = randomBytes(size);
      const artifact = await encrypt(key, plain);
      const chunks = Math.max(1, Math.ceil(size / CHUNK));
      assert.equal(artifact.length, HEADER_LENGTH + size + chunks * TAG_LENGTH, `size ${size}`);
      // 32 random bytes show up in the ciphertext by chance with probability ~2^-256; 1 byte often.
      assert.ok(size < 32 || !artifact.includes(plain.subarray(0, 32)), "ciphertext contains plaintext");
      assert.deepEqual(await decrypt(key, artifact), plain, `size ${size}`);
    }
  });

  it("uses a fresh salt and nonce prefix for every artifact", async () => {
    const plain = Buffer.alloc(1000, 7);
    const [a, b] = [await encrypt(key, plain), await encrypt(key, plain)];
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(parseHeader(a).salt, parseHeader(b).salt);
  });

  it("refuses a different key by its key id, before decrypting", async () => {
    const error = await decryptError(otherKey, await encrypt(key, randomBytes(5000)));
    assert.equal(error.code, "backup_wrong_key");
    assert.match(error.message, new RegExp(`encrypted with key ${key.id}`));
  });

  it("detects a flipped bit anywhere: header, ciphertext, tag", async () => {
    const artifact = await encrypt(key, randomBytes(2 * CHUNK + 100));
    const positions = [
      5,
      13,
      30,
      53,
      HEADER_LENGTH + 1,
      HEADER_LENGTH + CHUNK + 3,
      HEADER_LENGTH + sealedChunk - 1,
      artifact.length - 1,
    ];
    for (const position of positions) {
      const bad = Buffer.from(artifact);
      bad[position]! ^= 0x10;
      const error = await decryptError(key, bad);
      assert.ok(
        ["backup_corrupt", "backup_wrong_key"].includes(error.code),
        `bit at ${position}: ${error.code} ${error.message}`,
      );
      if (position >= HEADER_LENGTH) assert.equal(error.code, "backup_corrupt", `bit at ${position}`);
    }
  });

  it("releases no plaintext of a chunk that fails authentication", async () => {
    const plain = randomBytes(3 * CHUNK);
    const artifact = await encrypt(key, plain);
    artifact[HEADER_LENGTH + sealedChunk + 10]! ^= 1; // second chunk
    const received: Buffer[] = [];
    await assert.rejects(
      pipeline(pieces(artifact), createDecryptStream(key), async (stream: AsyncIterable<Buffer>) => {
        for await (const part of stream) received.push(part);
      }),
      (error: BulwarkError) => error.code === "backup_corrupt" && /chunk 1/.test(error.message),
    );
    assert.ok(Buffer.concat(received).length <= CHUNK, "plaintext of the damaged chunk was released");
  });

  it("detects truncation at a chunk boundary, inside a chunk, and inside the header", async () => {
    const artifact = await encrypt(key, randomBytes(3 * CHUNK + 10));
    const boundary = await decryptError(key, artifact.subarray(0, HEADER_LENGTH + 2 * sealedChunk));
    assert.equal(boundary.code, "backup_truncated");
    const inside = await decryptError(key, artifact.subarray(0, HEADER_LENGTH + 2 * sealedChunk + 100));
    assert.equal(inside.code, "backup_corrupt");
    const headerOnly = await decryptError(key, artifact.subarray(0, HEADER_LENGTH));
    assert.equal(headerOnly.code, "backup_truncated");
    const cutHeader = await decryptError(key, artifact.subarray(0, 20));
    assert.equal(cutHeader.code, "backup_truncated");
    const empty = await decryptError(key, Buffer.alloc(0));
    assert.equal(empty.code, "backup_truncated");
  });

  it("detects reordered, duplicated and appended chunks", async () => {
    const artifact = await encrypt(key, randomBytes(3 * CHUNK + 10));
    const header = artifact.subarray(0, HEADER_LENGTH);
    const chunk = (i: number) =>
      artifact.subarray(HEADER_LENGTH + i * sealedChunk, HEADER_LENGTH + (i + 1) * sealedChunk);
    const last = artifact.subarray(HEADER_LENGTH + 3 * sealedChunk);
    const swapped = Buffer.concat([header, chunk(1), chunk(0), chunk(2), last]);
    assert.equal((await decryptError(key, swapped)).code, "backup_corrupt");
    const duplicated = Buffer.concat([header, chunk(0), chunk(0), chunk(2), last]);
    assert.equal((await decryptError(key, duplicated)).code, "backup_corrupt");
    const extended = Buffer.concat([artifact, chunk(0)]);
    assert.equal((await decryptError(key, extended)).code, "backup_corrupt");
    // Chunks moved between two artifacts of the same key fail too (per-artifact salt and header).
    const other = await encrypt(key, randomBytes(3 * CHUNK + 10));
    const spliced = Buffer.concat([header, chunk(0), other.subarray(HEADER_LENGTH + sealedChunk)]);
    assert.equal((await decryptError(key, spliced)).code, "backup_corrupt");
  });

  it("round-trips with a passphrase and refuses the wrong passphrase", async () => {
    const passphrase = await keyFromPassphrase("correct horse battery staple");
    const plain = randomBytes(CHUNK + 5);
    const artifact = await encrypt(passphrase, plain);
    assert.equal(parseHeader(artifact).scrypt?.logN, 15);
    assert.deepEqual(await decrypt(passphrase, artifact), plain);
    const wrong = await keyFromPassphrase("incorrect horse battery staple");
    assert.equal((await decryptError(wrong, artifact)).code, "backup_wrong_key");
    assert.equal((await decryptError(key, artifact)).code, "backup_wrong_key");
    await assert.rejects(
      keyFromPassphrase("short"),
      (error: BulwarkError) => error.code === "backup_key_invalid",
    );
  });
});

describe("key files", () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-key-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("keygen creates a 0600 base64 key that reads back to the same key id, and never overwrites", () => {
    const file = join(dir, "backup.key");
    const created = generateKeyFile(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readKeyFile(file).id, created.id);
    assert.throws(
      () => generateKeyFile(file),
      (error: BulwarkError) => /already exists/.test(error.message),
    );
  });

  it("accepts 32 raw bytes and refuses wrong sizes, group-readable files and missing files", () => {
    const bytes = randomBytes(32);
    const raw = join(dir, "raw.key");
    writeFileSync(raw, bytes, { mode: 0o600 });
    assert.equal(readKeyFile(raw).id, keyFromBytes(bytes).id);
    const short = join(dir, "short.key");
    writeFileSync(short, randomBytes(16).toString("base64"), { mode: 0o600 });
    assert.throws(
      () => readKeyFile(short),
      (error: BulwarkError) => error.code === "backup_key_invalid" && /32-byte/.test(error.message),
    );
    const open = join(dir, "open.key");
    writeFileSync(open, bytes.toString("base64"), { mode: 0o644 });
    assert.throws(
      () => readKeyFile(open),
      (error: BulwarkError) => /chmod 600/.test(error.message),
    );
    assert.throws(
      () => readKeyFile(join(dir, "missing.key")),
      (error: BulwarkError) => /ENOENT/.test(error.message),
    );
  });
});

describe("header parser fuzz", () => {
  it("turns every random or mutated header into a backup error, never a crash", async () => {
    const valid = (await encrypt(key, Buffer.alloc(10))).subarray(0, HEADER_LENGTH);
    const deadline = Date.now() + 2000;
    let runs = 0;
    while (Date.now() < deadline) {
      const candidate = runs % 2 === 0 ? randomBytes(Math.floor(Math.random() * 80)) : Buffer.from(valid);
      if (runs % 2 === 1) {
        for (let flips = 1 + Math.floor(Math.random() * 3); flips > 0; flips--) {
          candidate[Math.floor(Math.random() * 12)] = Math.floor(Math.random() * 256);
        }
      }
      try {
        const header = parseHeader(candidate);
        assert.ok(header.chunkLog2 >= 16 && header.chunkLog2 <= 20);
      } catch (error) {
        assert.ok(error instanceof BulwarkError, `non-bulwark error: ${String(error)}`);
        assert.ok(["backup_corrupt", "backup_truncated"].includes(error.code));
      }
      runs++;
    }
    assert.ok(runs > 1000);
  });
});
