/**
 * Recently verified tokens, so a client that sends the same bearer token on every request pays
 * for one signature check, not one per request (Envoy's JWT filter caches the same way). An
 * entry is keyed by the exact token string, so only a byte-identical token hits; tokens over
 * 2 KiB are keyed by their SHA-256 instead, which bounds the cache's memory (10,000 entries of
 * at most 2 KiB of key) while typical tokens skip the hash on every request. It lives
 * until the token's `exp` (plus the clock skew) or `maxAgeMs`, whichever comes first: the short
 * bound limits how long a token stays accepted after its signing key is withdrawn from the JWKS.
 * Bounded in entries; the oldest are dropped first.
 */
import { createHash } from "node:crypto";

const MAX_RAW_KEY = 2048;

export interface CachedIdentity {
  readonly subject: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

interface Entry extends CachedIdentity {
  readonly until: number;
}

export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 60_000,
    private readonly clockSkewMs = 0,
    private readonly now: () => number = Date.now,
  ) {}

  static keyOf(token: string): string {
    // A SHA-256 digest in base64 is 44 characters with "=" at the end, which no compact JWS has,
    // so a hashed key can never equal a raw one.
    return token.length <= MAX_RAW_KEY ? token : createHash("sha256").update(token).digest("base64");
  }

  get(key: string): CachedIdentity | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, identity: CachedIdentity): void {
    const exp = identity.claims.exp;
    if (typeof exp !== "number") return;
    const until = Math.min(exp * 1000 + this.clockSkewMs, this.now() + this.maxAgeMs);
    if (until <= this.now()) return;
    if (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { ...identity, until });
  }

  get size(): number {
    return this.entries.size;
  }
}
