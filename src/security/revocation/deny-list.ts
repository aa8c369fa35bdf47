/**
 * Token revocation by `jti` (issue 3 §3). Every gateway process keeps the deny-list in memory, so
 * the check on the request path is a synchronous map lookup. An entry lives until the token's own
 * expiry (after which the token is refused anyway), so the list stays as small as the set of
 * revoked tokens still alive.
 *
 * Stores: memory (per process; lost on restart; in `workers` mode the primary sends each
 * revocation to every worker) and Redis (redis-deny-list.ts: shared by every instance and kept
 * across restarts; each process mirrors it in memory).
 */
export interface Revocation {
  readonly jti: string;
  /** Epoch milliseconds after which the entry is dropped (the token's expiry). */
  readonly expiresAt: number;
}

export interface TokenDenyList {
  /** Synchronous: the request path never waits on a store. */
  isRevoked(jti: string, now?: number): boolean;
  /** Adds (or extends) a revocation; resolves once it is stored where every process sees it. */
  revoke(revocation: Revocation): Promise<void>;
  /** Live entries, soonest expiry first. */
  list(now?: number): Revocation[];
  /** False until a shared store was read once (gateway /ready). */
  readonly ready: boolean;
  close(): Promise<void>;
}

export const DEFAULT_MAX_REVOCATIONS = 100_000;
/** Longest `jti` accepted: a bound on memory per entry, far above what providers issue (UUIDs). */
export const MAX_JTI_LENGTH = 256;

export class DenyListFullError extends Error {
  constructor(max: number) {
    super(`the deny-list holds ${max} live revocations, its maximum; raise maxEntries or wait for expiries`);
    this.name = "DenyListFullError";
  }
}

/** The in-memory view every store keeps; also the memory store itself. */
export class MemoryDenyList implements TokenDenyList {
  readonly ready = true;
  private readonly entries = new Map<string, number>();
  private sweepAt = 0;

  constructor(private readonly maxEntries = DEFAULT_MAX_REVOCATIONS) {}

  isRevoked(jti: string, now = Date.now()): boolean {
    const expiresAt = this.entries.get(jti);
    return expiresAt !== undefined && expiresAt > now;
  }

  /** Adds without the shared-store round trip (used by the Redis mirror). */
  add(revocation: Revocation, now = Date.now()): void {
    if (revocation.expiresAt <= now) return;
    const current = this.entries.get(revocation.jti);
    if (current === undefined) {
      this.sweep(now);
      // Refusing a new revocation is loud and safe; evicting a live one would silently let a
      // revoked token back in.
      if (this.entries.size >= this.maxEntries) throw new DenyListFullError(this.maxEntries);
    }
    this.entries.set(revocation.jti, Math.max(current ?? 0, revocation.expiresAt));
  }

  async revoke(revocation: Revocation): Promise<void> {
    this.add(revocation);
  }

  /** Replaces the whole view (a full sync from the shared store). */
  replace(revocations: Iterable<Revocation>, now = Date.now()): void {
    this.entries.clear();
    for (const revocation of revocations) {
      if (revocation.expiresAt > now) this.entries.set(revocation.jti, revocation.expiresAt);
    }
  }

  list(now = Date.now()): Revocation[] {
    return [...this.entries]
      .filter(([, expiresAt]) => expiresAt > now)
      .map(([jti, expiresAt]) => ({ jti, expiresAt }))
      .sort((a, b) => a.expiresAt - b.expiresAt);
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {}

  private sweep(now: number): void {
    // At most once a second, and only when adding: lookups never pay for it.
    if (now < this.sweepAt) return;
    this.sweepAt = now + 1000;
    for (const [jti, expiresAt] of this.entries) if (expiresAt <= now) this.entries.delete(jti);
  }
}

/** Checks an operator's revocation request; returns an error message, or undefined when valid. */
export function revocationProblem(jti: unknown, expiresAt: unknown, now = Date.now()): string | undefined {
  if (typeof jti !== "string" || jti === "") return "jti must be a non-empty string";
  if (jti.length > MAX_JTI_LENGTH) return `jti must be at most ${MAX_JTI_LENGTH} characters`;
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) {
    return "expiresAt must be a time (the token's exp), such as 2026-12-01T00:00:00Z";
  }
  if (expiresAt <= now) return "expiresAt is in the past: the token has expired and is refused anyway";
  return undefined;
}
