/**
 * Pass-through streams that count (and optionally hash) the bytes of an artifact on its way to or
 * from a repository, and a sink for reads whose output only matters for what was measured on the
 * way (checksums, authentication). Backup, base backup, restore, rekey and prune all measure the
 * same way, so sizes and SHA-256s in manifests are computed by one piece of code.
 */
import { createHash } from "node:crypto";
import { Transform, Writable } from "node:stream";

export interface MeasuringStream extends Transform {
  /** Bytes passed through so far. */
  size(): number;
  /** Hex SHA-256 of every byte passed through; call once the stream has ended (the digest is kept). */
  sha256(): string;
}

export interface MeasuringOptions {
  /** Hash the bytes (default true). Off where only a count is needed: hashing costs CPU per byte. */
  readonly hash?: boolean;
  /** Called with each chunk's length (progress meters). */
  readonly onBytes?: (count: number) => void;
}

export function measuringStream(options: MeasuringOptions = {}): MeasuringStream {
  const hash = options.hash === false ? undefined : createHash("sha256");
  const onBytes = options.onBytes;
  let size = 0;
  let digest: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash?.update(chunk);
      size += chunk.length;
      onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
  return Object.assign(stream, {
    size: () => size,
    sha256: () => {
      if (!hash) throw new Error("measuringStream: created with hash: false");
      digest ??= hash.digest("hex");
      return digest;
    },
  });
}

/** A sink that drops what it is given. */
export function discardingSink(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}
