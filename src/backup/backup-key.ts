/**
 * Backup keys: a key file (32 random bytes, raw or base64) or a passphrase. Each artifact gets
 * its own AES-256 key: HKDF-SHA256 (RFC 5869) of the key file's bytes, or scrypt (RFC 7914) of
 * the passphrase, both with the artifact's random salt. The key id (8 bytes, shown as hex) lets
 * a restore say "wrong key" instead of "tampered" without revealing anything about the key.
 */
import { createHmac, hkdfSync, randomBytes, scrypt as scryptCallback } from "node:crypto";
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { BulwarkError } from "../errors.js";
import { type ArtifactHeader, Kdf, type ScryptParams } from "./artifact-header.js";

export const KEY_LENGTH = 32;
/** scrypt cost for new artifacts: 2^15 × 8 × 128 bytes = 32 MiB, about 0.1 s (RFC 7914 §2). */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 15, r: 8, p: 1 };
const KEY_ID_LABEL = "bulwark backup key id v1";
const ARTIFACT_INFO = "bulwark backup artifact v1";
const MANIFEST_LABEL = "bulwark manifest mac v1";

export interface BackupKey {
  readonly kind: "file" | "passphrase";
  /** 16 hex digits; stored in headers and manifests. */
  readonly id: string;
  readonly kdf: Kdf;
  /** scrypt parameters for new artifacts (passphrase keys only). */
  readonly scrypt: ScryptParams | null;
  /** The AES-256-GCM key of one artifact, from its header's salt. */
  artifactKey(header: Pick<ArtifactHeader, "salt" | "scrypt">): Promise<Buffer>;
  /** The HMAC-SHA256 key that authenticates manifests (manifest-mac.ts). */
  manifestKey(): Promise<Buffer>;
}

function scrypt(
  secret: Buffer,
  salt: Buffer | string,
  length: number,
  params: ScryptParams,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(
      secret,
      salt,
      length,
      {
        N: 2 ** params.logN,
        r: params.r,
        p: params.p,
        maxmem: 256 * 2 ** params.logN * params.r + 1024 ** 2,
      },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

function hkdf(master: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", master, salt, ARTIFACT_INFO, KEY_LENGTH));
}

/** A key from 32 raw bytes. */
export function keyFromBytes(bytes: Buffer): BackupKey {
  const master = Buffer.from(bytes);
  const id = createHmac("sha256", master).update(KEY_ID_LABEL).digest().subarray(0, 8).toString("hex");
  return {
    kind: "file",
    id,
    kdf: Kdf.KeyFile,
    scrypt: null,
    async artifactKey(header) {
      return hkdf(master, header.salt);
    },
    async manifestKey() {
      return Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), MANIFEST_LABEL, KEY_LENGTH));
    },
  };
}

/** A key from a passphrase; computing its id costs one scrypt run. */
export async function keyFromPassphrase(passphrase: string): Promise<BackupKey> {
  if (passphrase.length < 12) {
    throw new BulwarkError(
      "backup_key_invalid",
      `backup passphrase is too short (${passphrase.length} characters); use at least 12, or a key file`,
    );
  }
  const secret = Buffer.from(passphrase, "utf8");
  const id = (await scrypt(secret, KEY_ID_LABEL, 8, DEFAULT_SCRYPT)).toString("hex");
  let manifestKey: Promise<Buffer> | undefined;
  return {
    kind: "passphrase",
    id,
    kdf: Kdf.Passphrase,
    scrypt: DEFAULT_SCRYPT,
    async artifactKey(header) {
      if (!header.scrypt)
        throw new BulwarkError(
          "backup_wrong_key",
          "artifact was encrypted with a key file, not a passphrase",
        );
      return hkdf(await scrypt(secret, header.salt, KEY_LENGTH, header.scrypt), header.salt);
    },
    manifestKey() {
      manifestKey ??= scrypt(secret, MANIFEST_LABEL, KEY_LENGTH, DEFAULT_SCRYPT);
      return manifestKey;
    },
  };
}

/**
 * Reads a key file: exactly 32 bytes, or their base64 (standard or url-safe) with optional
 * surrounding whitespace. Refuses files readable by group or others, as ssh does for private keys.
 */
export function readKeyFile(path: string): BackupKey {
  let content: Buffer;
  try {
    const stat = statSync(path);
    if (!stat.isFile())
      throw new BulwarkError("backup_key_invalid", `key file ${path} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new BulwarkError(
        "backup_key_invalid",
        `key file ${path} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
      );
    }
    content = readFileSync(path);
  } catch (error) {
    if (error instanceof BulwarkError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
    throw new BulwarkError(
      "backup_key_invalid",
      `cannot read key file ${path} (${code}); check the path and its permissions`,
    );
  }
  if (content.length === KEY_LENGTH) return keyFromBytes(content);
  const text = content.toString("latin1").trim();
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const decoded = Buffer.from(text, text.includes("-") || text.includes("_") ? "base64url" : "base64");
    if (decoded.length === KEY_LENGTH) return keyFromBytes(decoded);
  }
  throw new BulwarkError(
    "backup_key_invalid",
    `key file ${path} does not hold a 32-byte key (raw or base64); create one with \`bulwark backup keygen --out FILE\``,
  );
}

/** Writes a new random key (base64, one line) to a file that must not exist yet, mode 0600. */
export function generateKeyFile(path: string): BackupKey {
  const bytes = randomBytes(KEY_LENGTH);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint =
      code === "EEXIST" ? "it already exists; never overwrite a key that backups depend on" : `${code}`;
    throw new BulwarkError("backup_key_invalid", `cannot create key file ${path}: ${hint}`);
  }
  try {
    writeSync(fd, `${bytes.toString("base64")}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return keyFromBytes(bytes);
}
