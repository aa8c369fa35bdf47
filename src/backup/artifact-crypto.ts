/**
 * Streaming authenticated encryption of backup artifacts: AES-256-GCM over fixed-size chunks
 * (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, "Online
 * Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015, as in age and Tink).
 *
 *   artifact = header (56 bytes) ‖ chunk 0 ‖ chunk 1 ‖ … ‖ final chunk
 *   chunk i  = AES-256-GCM(key, nonce = prefix ‖ u64be(i), aad = header ‖ u64be(i) ‖ final flag)
 *              → ciphertext ‖ 16-byte tag
 *
 * Every chunk but the last holds exactly `chunkSize` plaintext bytes; the last holds 0..chunkSize
 * and is sealed with final flag 1. So a reordered chunk fails (its index is in the nonce and the
 * AAD), a cut at a chunk boundary fails (the new last chunk was sealed as non-final), an appended
 * chunk fails (the old last chunk was sealed as final), and a changed header fails every chunk.
 * No plaintext is released before its chunk has been authenticated.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { BulwarkError } from "../errors.js";
import {
  type ArtifactHeader,
  encodeHeader,
  FORMAT_VERSION,
  HEADER_LENGTH,
  parseHeader,
} from "./artifact-header.js";
import type { BackupKey } from "./backup-key.js";

export const TAG_LENGTH = 16;
/** 1 MiB chunks: a 16-byte tag per MiB, and few enough cipher calls to stay far from the dump's speed. */
export const DEFAULT_CHUNK_LOG2 = 20;

function chunkNonce(prefix: Buffer, index: number): Buffer {
  const nonce = Buffer.alloc(12);
  prefix.copy(nonce, 0);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
}

function chunkAad(header: Buffer, index: number, final: boolean): Buffer {
  const aad = Buffer.alloc(header.length + 9);
  header.copy(aad, 0);
  aad.writeBigUInt64BE(BigInt(index), header.length);
  aad[header.length + 8] = final ? 1 : 0;
  return aad;
}

/** A byte queue that hands out exact-length slices without re-concatenating on every write. */
class ByteQueue {
  private parts: Buffer[] = [];
  length = 0;
  push(chunk: Buffer): void {
    this.parts.push(chunk);
    this.length += chunk.length;
  }
  take(count: number): Buffer {
    const first = this.parts[0];
    if (first && first.length >= count) {
      const out = first.subarray(0, count);
      if (first.length === count) this.parts.shift();
      else this.parts[0] = first.subarray(count);
      this.length -= count;
      return out;
    }
    const all = Buffer.concat(this.parts, this.length);
    const out = all.subarray(0, count);
    const rest = all.subarray(count);
    this.parts = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }
}

export interface EncryptOptions {
  readonly chunkLog2?: number;
}

/** A Transform from plaintext to an encrypted artifact. */
export async function createEncryptStream(key: BackupKey, options: EncryptOptions = {}): Promise<Transform> {
  const header: ArtifactHeader = {
    version: FORMAT_VERSION,
    kdf: key.kdf,
    chunkLog2: options.chunkLog2 ?? DEFAULT_CHUNK_LOG2,
    scrypt: key.scrypt,
    keyId: key.id,
    salt: randomBytes(32),
    noncePrefix: randomBytes(4),
  };
  const headerBytes = encodeHeader(header);
  const artifactKey = await key.artifactKey(header);
  const chunkSize = 2 ** header.chunkLog2;
  const queue = new ByteQueue();
  let index = 0;
  let headerSent = false;

  const seal = (plain: Buffer, final: boolean): Buffer => {
    const cipher = createCipheriv("aes-256-gcm", artifactKey, chunkNonce(header.noncePrefix, index));
    cipher.setAAD(chunkAad(headerBytes, index, final));
    const body = cipher.update(plain);
    cipher.final();
    index++;
    return Buffer.concat([body, cipher.getAuthTag()]);
  };
  const emitHeader = (stream: Transform) => {
    if (!headerSent) {
      stream.push(headerBytes);
      headerSent = true;
    }
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      emitHeader(this);
      queue.push(chunk);
      // Strictly more than one chunk buffered: the next chunk is known not to be the last.
      while (queue.length > chunkSize) this.push(seal(queue.take(chunkSize), false));
      callback();
    },
    flush(callback: TransformCallback) {
      emitHeader(this);
      this.push(seal(queue.take(queue.length), true));
      callback();
    },
  });
}

export interface DecryptOptions {
  /** Called once the header is read, before any chunk is decrypted. */
  readonly onHeader?: (header: ArtifactHeader) => void;
}

/**
 * A Transform from an encrypted artifact to plaintext. Errors (all BulwarkErrors): wrong key
 * (key id differs), corrupt (bad header, a chunk failing authentication), truncated.
 */
export function createDecryptStream(key: BackupKey, options: DecryptOptions = {}): Transform {
  const queue = new ByteQueue();
  let header: ArtifactHeader | null = null;
  let headerBytes: Buffer | null = null;
  let artifactKey: Buffer | null = null;
  let chunkSize = 0;
  let index = 0;

  const open = (sealed: Buffer, final: boolean): Buffer => {
    if (sealed.length < TAG_LENGTH) {
      throw new BulwarkError("backup_truncated", `backup artifact truncated: chunk ${index} is cut short`);
    }
    const decipher = createDecipheriv("aes-256-gcm", artifactKey!, chunkNonce(header!.noncePrefix, index));
    decipher.setAAD(chunkAad(headerBytes!, index, final));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
    try {
      decipher.final();
    } catch {
      // A valid non-final chunk sealed as the last one means the artifact was cut at a chunk boundary.
      if (final && sealed.length === chunkSize + TAG_LENGTH && sealedAsNonFinal(sealed)) {
        throw new BulwarkError(
          "backup_truncated",
          `backup artifact truncated: it ends after chunk ${index}, which is not the last one`,
        );
      }
      throw new BulwarkError(
        "backup_corrupt",
        `backup artifact failed authentication at chunk ${index}: it was modified or damaged`,
      );
    }
    index++;
    return plain;
  };
  const sealedAsNonFinal = (sealed: Buffer): boolean => {
    const decipher = createDecipheriv("aes-256-gcm", artifactKey!, chunkNonce(header!.noncePrefix, index));
    decipher.setAAD(chunkAad(headerBytes!, index, false));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
    decipher.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
    try {
      decipher.final();
      return true;
    } catch {
      return false;
    }
  };

  const readHeader = async (): Promise<void> => {
    headerBytes = Buffer.from(queue.take(HEADER_LENGTH));
    header = parseHeader(headerBytes);
    if (header.keyId !== key.id) {
      throw new BulwarkError(
        "backup_wrong_key",
        `wrong key: the artifact was encrypted with key ${header.keyId}, the key given is ${key.id}`,
      );
    }
    options.onHeader?.(header);
    artifactKey = await key.artifactKey(header);
    chunkSize = 2 ** header.chunkLog2;
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      queue.push(chunk);
      const work = async () => {
        if (!header && queue.length >= HEADER_LENGTH) await readHeader();
        if (!header) return;
        const sealedSize = chunkSize + TAG_LENGTH;
        while (queue.length > sealedSize) this.push(open(queue.take(sealedSize), false));
      };
      work().then(() => callback(), callback);
    },
    flush(callback: TransformCallback) {
      const work = async () => {
        if (!header) {
          if (queue.length < HEADER_LENGTH) parseHeader(queue.take(queue.length));
          await readHeader();
        }
        if (queue.length === 0) {
          throw new BulwarkError(
            "backup_truncated",
            index === 0
              ? "backup artifact truncated: it holds a header and no data"
              : `backup artifact truncated: it ends after chunk ${index - 1}, which is not the last one`,
          );
        }
        this.push(open(queue.take(queue.length), true));
      };
      work().then(() => callback(), callback);
    },
  });
}
