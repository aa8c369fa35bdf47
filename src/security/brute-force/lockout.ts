/**
 * Brute-force protection (issue 3 §2): failed authentications are counted per key (a client
 * address, an account name) in a fixed window; reaching `maxFailures` locks the key out, and each
 * further lock-out of the same key lasts twice as long as the one before, up to `maxLockout`
 * (progressive lock-out, OWASP ASVS 2.2.1). A key's lock-out level is forgotten after a quiet
 * period of `maxLockout` + `window` without a lock-out. A success resets the failure count, not
 * the level.
 *
 * The arithmetic lives here once; the memory store runs it in-process and the Redis store
 * (redis-lockout-store.ts) runs the same steps as a Lua script.
 */
export interface LockoutPolicy {
  readonly maxFailures: number;
  /** Window in which failures are counted, ms. */
  readonly window: number;
  /** First lock-out, ms; doubled at each further one. */
  readonly lockout: number;
  readonly maxLockout: number;
}

/** Lock-out length at `level` (1 for the first). */
export function lockoutFor(policy: LockoutPolicy, level: number): number {
  return Math.min(policy.maxLockout, policy.lockout * 2 ** Math.min(level - 1, 30));
}

export interface LockoutStore {
  /** Milliseconds the longest-locked of `keys` stays locked; 0 when none is. */
  lockedFor(keys: readonly string[]): number | Promise<number>;
  /**
   * Counts a failure against each key; resolves with the lock-out it started (0 for none).
   * `maxFailures` overrides the policy's (gateway credential refusals have their own threshold).
   */
  fail(keys: readonly string[], maxFailures?: number): Promise<number>;
  /** A success: the failure counts of `keys` start again. */
  succeed(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  failures: number;
  windowEnds: number;
  level: number;
  levelEnds: number;
  lockedUntil: number;
}

export class MemoryLockoutStore implements LockoutStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly policy: LockoutPolicy,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  lockedFor(keys: readonly string[]): number {
    const now = this.now();
    let longest = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry && entry.lockedUntil > now) longest = Math.max(longest, entry.lockedUntil - now);
    }
    return longest;
  }

  async fail(keys: readonly string[], maxFailures = this.policy.maxFailures): Promise<number> {
    const now = this.now();
    let started = 0;
    for (const key of keys) {
      let entry = this.entries.get(key);
      if (!entry) {
        // Bounded: under a spray of keys the oldest entries go first (Map keeps insertion order).
        if (this.entries.size >= this.maxKeys)
          this.entries.delete(this.entries.keys().next().value as string);
        entry = { failures: 0, windowEnds: 0, level: 0, levelEnds: 0, lockedUntil: 0 };
        this.entries.set(key, entry);
      }
      if (entry.windowEnds <= now) {
        entry.failures = 0;
        entry.windowEnds = now + this.policy.window;
      }
      if (entry.levelEnds <= now) entry.level = 0;
      entry.failures++;
      if (entry.failures >= maxFailures) {
        entry.failures = 0;
        entry.level++;
        const length = lockoutFor(this.policy, entry.level);
        entry.lockedUntil = now + length;
        entry.levelEnds = now + length + this.policy.maxLockout + this.policy.window;
        started = Math.max(started, length);
      }
    }
    return started;
  }

  async succeed(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry) entry.failures = 0;
    }
  }

  async close(): Promise<void> {}
}
