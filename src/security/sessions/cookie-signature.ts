/**
 * Signed cookie values: `VALUE.MAC`, where MAC is base64url(HMAC-SHA256(secret, NAME "=" VALUE))
 * (RFC 2104). The cookie name is part of what is signed, so a value signed for one cookie (the
 * pre-auth state) is never accepted as another (the session). Verification tries the current
 * secret, then each previous one, so a secret can be rotated without signing everyone out:
 * new cookies are signed with the current secret, old ones stay valid while their secret is
 * listed under `previousSecrets`. MACs are compared with crypto.timingSafeEqual.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Characters a signed value may hold: base64url and a few separators, nothing a cookie quotes. */
const VALUE = /^[A-Za-z0-9_~-]{1,512}$/;
const MAC_LENGTH = 43; // base64url of 32 bytes, unpadded

// Cookies verified recently, exact string → value: a browser sends the same cookie on every
// request, so the HMAC runs once per cookie, not once per request. Only valid cookies are kept
// (garbage cannot fill the cache), and the cache is bounded; the oldest entries go first.
const VERIFIED_CACHE_SIZE = 10_000;

export class CookieSigner {
  private readonly keys: readonly Buffer[];
  private readonly verified = new Map<string, string>();

  /** `secrets[0]` signs; every entry verifies. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error("a cookie signer needs at least one secret");
    this.keys = secrets.map((secret) => Buffer.from(secret, "utf8"));
  }

  sign(name: string, value: string): string {
    if (!VALUE.test(value)) throw new Error("a signed cookie value must be 1 to 512 base64url characters");
    return `${value}.${this.mac(this.keys[0]!, name, value).toString("base64url")}`;
  }

  /** The value when `signed` carries a valid MAC under any secret; undefined otherwise. */
  verify(name: string, signed: string | undefined): string | undefined {
    if (signed === undefined || signed.length > 512 + 1 + MAC_LENGTH) return undefined;
    const cacheKey = `${name}=${signed}`;
    const cached = this.verified.get(cacheKey);
    if (cached !== undefined) return cached;
    const value = this.check(name, signed);
    if (value !== undefined) {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) {
        this.verified.delete(this.verified.keys().next().value as string);
      }
      this.verified.set(cacheKey, value);
    }
    return value;
  }

  private check(name: string, signed: string): string | undefined {
    const dot = signed.lastIndexOf(".");
    if (dot <= 0 || signed.length - dot - 1 !== MAC_LENGTH) return undefined;
    const value = signed.slice(0, dot);
    if (!VALUE.test(value)) return undefined;
    const mac = signed.slice(dot + 1);
    const given = Buffer.from(mac, "base64url");
    // Only the canonical encoding: the last character of 32 bytes in base64url carries two
    // unused bits, and a cookie that differs in them must not count as the same cookie.
    if (given.length !== 32 || given.toString("base64url") !== mac) return undefined;
    let valid = false;
    // Every key is tried, valid or not, so the time taken does not say which secret matched.
    for (const key of this.keys) {
      if (timingSafeEqual(given, this.mac(key, name, value))) valid = true;
    }
    return valid ? value : undefined;
  }

  private mac(key: Buffer, name: string, value: string): Buffer {
    return createHmac("sha256", key).update(`${name}=${value}`).digest();
  }
}
