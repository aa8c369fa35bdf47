/**
 * What a session holds, and how it is kept in the store. The browser holds only a random 256-bit
 * id (in a signed cookie). The store never sees that id: a record is stored under
 * SHA-256("id" ‖ id) and sealed with AES-256-GCM under SHA-256("key" ‖ id). A copy of the store
 * (a Redis dump, a replica) therefore reveals neither usable cookies nor the refresh tokens and
 * claims inside, and a record cannot be moved to another id without failing authentication.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

export interface SessionRecord {
  readonly subject: string;
  /** ID-token claims (protocol-only claims removed): the identity later stages see. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Provider and client that signed the browser in; a route of another provider ignores it. */
  readonly issuer: string;
  readonly clientId: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  /** Absolute timeout: the session ends then, whatever its use. */
  readonly expiresAt: number;
  /** The synchronizer CSRF token of this session (docs/security-model.md, CSRF). */
  readonly csrfToken: string;
  /** For RP-initiated logout (`id_token_hint`). */
  readonly idToken?: string | undefined;
  readonly refreshToken?: string | undefined;
  /** For routes that pass it upstream (auth.session.accessTokenHeader); sealed like the rest. */
  readonly accessToken?: string | undefined;
  /** When the access token expires; a refresh is due then (milliseconds since the epoch). */
  readonly accessTokenExpiresAt?: number | undefined;
}

const ID_BYTES = 32;

/** A fresh session id (256 random bits, base64url). */
export function newSessionId(): string {
  return randomBytes(ID_BYTES).toString("base64url");
}

export function isSessionId(value: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(value);
}

function derive(label: string, id: string): Buffer {
  return createHash("sha256").update(`bulwark-session/${label}\0${id}`).digest();
}

/** The store key of a session id. */
export function storageKey(id: string): string {
  return `s:${derive("id", id).toString("base64url")}`;
}

export function sealRecord(id: string, record: SessionRecord): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", derive("key", id), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(record), "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
}

/** The record, or undefined when the sealed value is not one this id sealed. */
export function openRecord(id: string, sealed: string): SessionRecord | undefined {
  try {
    const bytes = Buffer.from(sealed, "base64url");
    if (bytes.length < 29) return undefined;
    const decipher = createDecipheriv("aes-256-gcm", derive("key", id), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    const text = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
    const record = JSON.parse(text) as SessionRecord;
    return typeof record.subject === "string" && typeof record.expiresAt === "number" ? record : undefined;
  } catch {
    return undefined;
  }
}
