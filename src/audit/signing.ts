/**
 * Ed25519 keys (RFC 8032, node:crypto) for checkpoints and prune records: a PKCS#8 PEM private
 * key on the writer, SPKI PEM public keys for `bulwark audit verify`.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { BulwarkError } from "../errors.js";
import { type SignedRecord, signedPayload } from "./record.js";

export interface SigningKey {
  readonly keyId: string;
  readonly privateKey: KeyObject;
}

export interface VerifyingKey {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly file: string;
}

export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex").slice(0, 16);
}

function readKeyFile(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new BulwarkError(
      "audit_key_invalid",
      `cannot read the audit ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}

export function loadSigningKey(file: string): SigningKey {
  const pem = readKeyFile(file, "signing key");
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new BulwarkError(
      "audit_key_invalid",
      `${file} is not a PEM private key; create one with \`bulwark audit keygen --out ${file}\``,
    );
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new BulwarkError(
      "audit_key_invalid",
      `${file} is a ${privateKey.asymmetricKeyType} key; audit checkpoints need Ed25519 (bulwark audit keygen)`,
    );
  }
  return { keyId: keyIdOf(createPublicKey(privateKey)), privateKey };
}

export function loadVerifyingKey(file: string): VerifyingKey {
  const pem = readKeyFile(file, "public key");
  if (pem.includes("PRIVATE KEY-----")) {
    // Verification needs only the public key; a private key here is one copy too many.
    throw new BulwarkError(
      "audit_key_invalid",
      `${file} is a private key; give the public key (the .pub file keygen wrote)`,
    );
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch {
    throw new BulwarkError(
      "audit_key_invalid",
      `${file} is not a PEM public key (bulwark audit keygen prints one)`,
    );
  }
  if (publicKey.asymmetricKeyType !== "ed25519") {
    throw new BulwarkError(
      "audit_key_invalid",
      `${file} is a ${publicKey.asymmetricKeyType} key; expected Ed25519`,
    );
  }
  return { keyId: keyIdOf(publicKey), publicKey, file };
}

export function generateSigningKeyPair(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicPem: publicKey.export({ type: "spki", format: "pem" }) as string,
    keyId: keyIdOf(publicKey),
  };
}

export function signRecord<T extends SignedRecord>(record: Omit<T, "sig" | "keyId">, key: SigningKey): T {
  const unsigned = { ...record, keyId: key.keyId } as Omit<T, "sig">;
  const sig = sign(null, Buffer.from(signedPayload(unsigned), "utf8"), key.privateKey).toString("base64url");
  return { ...unsigned, sig } as T;
}

/** "ok", "bad" (signature does not match), or "unknown-key" (no given public key has its keyId). */
export function checkSignature(
  record: SignedRecord,
  keys: readonly VerifyingKey[],
): "ok" | "bad" | "unknown-key" {
  const key = keys.find((candidate) => candidate.keyId === record.keyId);
  if (!key) return "unknown-key";
  let signature: Buffer;
  try {
    signature = Buffer.from(record.sig, "base64url");
  } catch {
    return "bad";
  }
  try {
    return verify(null, Buffer.from(signedPayload(record), "utf8"), key.publicKey, signature) ? "ok" : "bad";
  } catch {
    return "bad";
  }
}
