/**
 * The embedded session store: a map in the gateway process, bounded by `maxEntries`. Entries are
 * kept in insertion order; inserting into a full map first drops expired entries among the 16
 * oldest, and if none has expired evicts the oldest entry (its owner has to sign in again), so a
 * flood of sign-in attempts costs bounded memory. Per process: with several workers or
 * instances, use the Redis store, or a browser is signed in on one worker only.
 */
import type { SessionStore, StoredValue } from "./store.js";

export const DEFAULT_MAX_SESSIONS = 100_000;

interface Entry {
  readonly value: string;
  expiresAt: number;
}

export class MemorySessionStore implements SessionStore {
  readonly kind = "memory";
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = DEFAULT_MAX_SESSIONS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    const entry = this.live(key);
    return entry && { value: entry.value, ttlMs: entry.expiresAt - this.now() };
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.makeRoom();
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async touch(key: string, ttlMs: number): Promise<void> {
    const entry = this.live(key);
    if (entry) entry.expiresAt = this.now() + ttlMs;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async take(key: string): Promise<string | undefined> {
    const entry = this.live(key);
    this.entries.delete(key);
    return entry?.value;
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private makeRoom(): void {
    const now = this.now();
    let looked = 0;
    let dropped = false;
    for (const [key, entry] of this.entries) {
      if (looked++ >= 16) break;
      if (entry.expiresAt <= now) {
        this.entries.delete(key);
        dropped = true;
      }
    }
    if (!dropped) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}
