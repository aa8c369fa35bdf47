/**
 * The fixed 56-byte header at the start of every encrypted backup artifact. It names the format
 * version, how the artifact key is derived (a key file through HKDF, or a passphrase through
 * scrypt, RFC 7914), the chunk size, the key id, the per-artifact salt and the nonce prefix. The
 * whole header is part of every chunk's associated data, so changing any byte of it makes every
 * chunk fail authentication.
 *
 *   0  magic "BWBK"           12  key id (8 bytes)
 *   4  format version (1)     20  salt (32 bytes)
 *   5  kdf (1 key file, 2 passphrase)   52  nonce prefix (4 bytes)
 *   6  log2 chunk size (16..20)
 *   7  scrypt log2 N, 8 scrypt r, 9 scrypt p (all 0 for a key file)
 *   10 reserved (2 bytes, 0)
 */
import { BulwarkError } from "../errors.js";

export const HEADER_LENGTH = 56;
export const FORMAT_VERSION = 1;
const MAGIC = Buffer.from("BWBK", "latin1");

export const Kdf = { KeyFile: 1, Passphrase: 2 } as const;
export type Kdf = (typeof Kdf)[keyof typeof Kdf];

export interface ScryptParams {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

export interface ArtifactHeader {
  readonly version: number;
  readonly kdf: Kdf;
  readonly chunkLog2: number;
  readonly scrypt: ScryptParams | null;
  /** 16 hex digits. */
  readonly keyId: string;
  readonly salt: Buffer;
  readonly noncePrefix: Buffer;
}

/** Bounds accepted when reading, so a forged header cannot make scrypt or buffers explode. */
export const CHUNK_LOG2_MIN = 16;
export const CHUNK_LOG2_MAX = 20;
const SCRYPT_LIMITS = { logN: [14, 20], r: [1, 16], p: [1, 4] } as const;

export function encodeHeader(header: ArtifactHeader): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH);
  MAGIC.copy(out, 0);
  out[4] = header.version;
  out[5] = header.kdf;
  out[6] = header.chunkLog2;
  out[7] = header.scrypt?.logN ?? 0;
  out[8] = header.scrypt?.r ?? 0;
  out[9] = header.scrypt?.p ?? 0;
  Buffer.from(header.keyId, "hex").copy(out, 12);
  header.salt.copy(out, 20);
  header.noncePrefix.copy(out, 52);
  return out;
}

function invalid(reason: string): BulwarkError {
  return new BulwarkError("backup_corrupt", `not a valid bulwark backup artifact: ${reason}`);
}

function within(value: number, [low, high]: readonly [number, number]): boolean {
  return value >= low && value <= high;
}

/** Parses and validates a header; every malformed input gives a backup_corrupt error. */
export function parseHeader(bytes: Buffer): ArtifactHeader {
  if (bytes.length < HEADER_LENGTH) {
    throw new BulwarkError(
      "backup_truncated",
      `backup artifact truncated: ${bytes.length} bytes, shorter than its ${HEADER_LENGTH}-byte header`,
    );
  }
  if (!bytes.subarray(0, 4).equals(MAGIC)) throw invalid("bad magic bytes");
  const version = bytes[4]!;
  if (version !== FORMAT_VERSION) {
    throw invalid(
      `format version ${version} is not supported (this bulwark reads version ${FORMAT_VERSION})`,
    );
  }
  const kdf = bytes[5]!;
  if (kdf !== Kdf.KeyFile && kdf !== Kdf.Passphrase) throw invalid(`unknown key derivation ${kdf}`);
  const chunkLog2 = bytes[6]!;
  if (!within(chunkLog2, [CHUNK_LOG2_MIN, CHUNK_LOG2_MAX]))
    throw invalid(`chunk size 2^${chunkLog2} out of range`);
  const [logN, r, p] = [bytes[7]!, bytes[8]!, bytes[9]!];
  let scrypt: ScryptParams | null = null;
  if (kdf === Kdf.Passphrase) {
    if (!within(logN, SCRYPT_LIMITS.logN) || !within(r, SCRYPT_LIMITS.r) || !within(p, SCRYPT_LIMITS.p)) {
      throw invalid("scrypt parameters out of range");
    }
    scrypt = { logN, r, p };
  } else if (logN !== 0 || r !== 0 || p !== 0) {
    throw invalid("scrypt parameters set for a key-file artifact");
  }
  if (bytes[10] !== 0 || bytes[11] !== 0) throw invalid("reserved bytes are not zero");
  return {
    version,
    kdf,
    chunkLog2,
    scrypt,
    keyId: bytes.subarray(12, 20).toString("hex"),
    salt: Buffer.from(bytes.subarray(20, 52)),
    noncePrefix: Buffer.from(bytes.subarray(52, 56)),
  };
}
