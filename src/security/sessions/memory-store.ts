/**
 * The embedded session store: a map in the gateway process, bounded by `maxEntries` (sessions and
 * back-channel logout indexes together), with pending sign-ins in a pool of their own (a quarter
 * of that, at least 100). Entries are kept in insertion order; inserting into a full map first
 * drops expired entries among the 16 oldest, and if none has expired evicts the oldest entry (a
 * session's owner has to sign in again; a pending sign-in has to start again). Sign-in starts
 * need no credential, so a flood of them only pushes out other pending sign-ins, never a session,
 * and costs bounded memory. Per process: with several workers or
 * instances, use the Redis store, or a browser is signed in on one worker only.
 */
import type { SessionStore, StoredValue } from "./store.js";

export const DEFAULT_MAX_SESSIONS = 100_000;

interface Entry {
  readonly value: string;
  expiresAt: number;
}

interface Index {
  readonly members: Set<string>;
  expiresAt: number;
}

export class MemorySessionStore implements SessionStore {
  readonly kind = "memory";
  private readonly entries = new Map<string, Entry>();
  // Indexes (back-channel logout) count against maxEntries too, and are evicted the same way.
  private readonly indexes = new Map<string, Index>();
  private readonly pending = new Map<string, Entry>();
  private readonly maxPending: number;

  constructor(
    private readonly maxEntries = DEFAULT_MAX_SESSIONS,
    private readonly now: () => number = Date.now,
  ) {
    this.maxPending = Math.max(100, Math.floor(maxEntries / 4));
  }

  /** Entries held: sessions, pending sign-ins and back-channel logout indexes. */
  get size(): number {
    return this.entries.size + this.indexes.size + this.pending.size;
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
    if (this.entries.size + this.indexes.size >= this.maxEntries) this.makeRoom();
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async setPending(key: string, value: string, ttlMs: number): Promise<void> {
    this.pending.delete(key);
    if (this.pending.size >= this.maxPending) {
      dropExpired(this.pending, this.now());
      if (this.pending.size >= this.maxPending)
        this.pending.delete(this.pending.keys().next().value as string);
    }
    this.pending.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)) return false;
    await this.set(key, value, ttlMs);
    return true;
  }

  async touch(key: string, ttlMs: number): Promise<void> {
    const entry = this.live(key);
    if (entry) entry.expiresAt = this.now() + ttlMs;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async take(key: string): Promise<string | undefined> {
    const pending = this.pending.get(key);
    if (pending !== undefined) {
      this.pending.delete(key);
      return pending.expiresAt > this.now() ? pending.value : undefined;
    }
    const entry = this.live(key);
    this.entries.delete(key);
    return entry?.value;
  }

  async addToIndex(key: string, member: string, ttlMs: number): Promise<void> {
    let index = this.indexes.get(key);
    if (index === undefined || index.expiresAt <= this.now()) {
      this.indexes.delete(key);
      if (this.entries.size + this.indexes.size >= this.maxEntries) this.makeRoom();
      index = { members: new Set(), expiresAt: 0 };
      this.indexes.set(key, index);
    }
    index.members.add(member);
    index.expiresAt = this.now() + ttlMs;
  }

  async deleteIndexed(key: string): Promise<number> {
    const index = this.indexes.get(key);
    this.indexes.delete(key);
    if (index === undefined || index.expiresAt <= this.now()) return 0;
    let deleted = 0;
    for (const member of index.members) {
      if (this.live(member)) deleted++;
      this.entries.delete(member);
    }
    return deleted;
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.indexes.clear();
    this.pending.clear();
  }

  private makeRoom(): void {
    const now = this.now();
    const dropped = dropExpired(this.entries, now) + dropExpired(this.indexes, now);
    if (dropped > 0) return;
    // The oldest session goes (its owner signs in again), unless indexes outnumber sessions more
    // than they can while in use (two per session at most): then an index of evicted sessions.
    const oldest = this.indexes.size >= 2 * this.entries.size ? this.indexes : this.entries;
    const key = oldest.keys().next();
    if (!key.done) oldest.delete(key.value);
  }
}

/** Drops the expired entries among the 16 oldest of `map`; gives how many went. */
function dropExpired(map: Map<string, { expiresAt: number }>, now: number): number {
  let looked = 0;
  let dropped = 0;
  for (const [key, entry] of map) {
    if (looked++ >= 16) break;
    if (entry.expiresAt <= now) {
      map.delete(key);
      dropped++;
    }
  }
  return dropped;
}
