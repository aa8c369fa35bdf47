/**
 * Where sessions and pending sign-ins live. Values are opaque strings (sealed records, see
 * session-record.ts); the store only keeps them until their time to live runs out. The idle
 * timeout is the time to live itself: a request that uses a session pushes it back (touch), so a
 * session nobody uses disappears from the store on its own, in Redis as in memory.
 */

export interface StoredValue {
  readonly value: string;
  /** Milliseconds left before the value expires. */
  readonly ttlMs: number;
}

export interface SessionStore {
  readonly kind: "memory" | "redis";
  get(key: string): Promise<StoredValue | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * A short-lived, single-use value (a pending sign-in), read back with take(). Where the store
   * is bounded it is kept apart from sessions, so a flood of sign-in starts evicts other pending
   * sign-ins, never a session.
   */
  setPending(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Sets the value only when the key holds none, in one atomic step; true when it did (a lock
   * taken, a first use recorded), false when another holder has it.
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Sets a new time to live on an existing value; nothing when it is gone. */
  touch(key: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Reads and removes in one atomic step, so a single-use value is used once (sign-in state). */
  take(key: string): Promise<string | undefined>;
  /**
   * Adds `member` (a key of this store) to the index at `key` and gives the index `ttlMs` to live
   * (back-channel logout: the sessions of one user or provider session).
   */
  addToIndex(key: string, member: string, ttlMs: number): Promise<void>;
  /** Deletes every key the index at `key` lists, then the index; gives how many keys existed. */
  deleteIndexed(key: string): Promise<number>;
  close(): Promise<void>;
}

/** The store could not answer (Redis down or slower than its timeout). */
export class SessionStoreUnavailable extends Error {
  constructor(cause: unknown) {
    super("session store unavailable", { cause });
    this.name = "SessionStoreUnavailable";
  }
}

/** Hears when a shared store goes down and comes back (one call per change, not per request). */
export type StoreStateListener = (up: boolean, reason?: string) => void;
