/**
 * Sessions and pending sign-ins on top of a store (memory or Redis). The idle timeout is the
 * store's time to live, pushed back on use; the absolute timeout is in the record. A used
 * session is pushed back at most once per `touchInterval` (a tenth of the idle timeout, at most
 * a minute), so a busy browser does not cost a store write per request; a session may therefore
 * end up to one touch interval before its idle timeout, never after.
 */
import { randomBytes } from "node:crypto";
import {
  isSessionId,
  newSessionId,
  openRecord,
  type SessionRecord,
  sealRecord,
  storageKey,
} from "./session-record.js";
import type { SessionStore } from "./store.js";

export interface SessionTimeouts {
  /** Milliseconds without a request after which a session ends. */
  readonly idle: number;
  /** Milliseconds after sign-in after which a session ends, whatever its use. */
  readonly absolute: number;
}

/** What the callback needs to finish a sign-in it did not start (another instance may have). */
export interface PendingSignIn {
  readonly codeVerifier: string;
  readonly nonce: string;
  /** Same-origin path to return to. */
  readonly returnTo: string;
  readonly issuer: string;
  readonly clientId: string;
}

export const STATE_TTL_MS = 10 * 60 * 1000;

export type LoadedSession =
  | { readonly status: "active"; readonly id: string; readonly record: SessionRecord }
  | { readonly status: "ended"; readonly reason: string };

// Records opened recently, by session id, with the sealed value they came from: while the store
// returns the same sealed value, the record is reused instead of decrypted and parsed again. A
// record changed by another instance comes back as a different sealed value and is opened anew.
const OPENED_CACHE_SIZE = 10_000;

interface Opened {
  readonly key: string;
  readonly sealed: string;
  readonly record: SessionRecord;
}

export class Sessions {
  private readonly opened = new Map<string, Opened>();

  constructor(
    readonly store: SessionStore,
    private readonly now: () => number = Date.now,
  ) {}

  private remember(id: string, entry: Opened): void {
    this.opened.delete(id);
    if (this.opened.size >= OPENED_CACHE_SIZE) this.opened.delete(this.opened.keys().next().value as string);
    this.opened.set(id, entry);
  }

  /**
   * Stores a new session; gives its id (for the cookie). `indexes` (back-channel logout) list it
   * first, so a session the store holds is always one a logout can find.
   */
  async create(
    record: SessionRecord,
    timeouts: SessionTimeouts,
    indexes: readonly string[] = [],
  ): Promise<string> {
    const id = newSessionId();
    const key = storageKey(id);
    for (const index of indexes) await this.store.addToIndex(index, key, timeouts.absolute);
    await this.store.set(key, sealRecord(id, record), this.ttl(record, timeouts.idle));
    return id;
  }

  /** Ends every session the indexes list (back-channel logout); gives how many there were. */
  async endIndexed(indexes: readonly string[]): Promise<number> {
    let ended = 0;
    for (const index of indexes) ended += await this.store.deleteIndexed(index);
    return ended;
  }

  /** Marks `key` as used for `ttlMs`; false when it already was (a replayed logout token). */
  firstUse(key: string, ttlMs: number): Promise<boolean> {
    return this.store.setIfAbsent(key, "1", ttlMs);
  }

  /**
   * Takes the right to refresh session `id`'s tokens for `ttlMs`, across every instance sharing
   * the store; false when another request (here or on another instance) holds it. A rotated
   * refresh token works once: two instances presenting it at the same instant would look like
   * token theft to the provider, which may then end the session (RFC 9700 §4.14.2).
   */
  claimRefresh(id: string, ttlMs: number): Promise<boolean> {
    return this.store.setIfAbsent(refreshKey(id), "1", ttlMs);
  }

  releaseRefresh(id: string): Promise<void> {
    return this.store.delete(refreshKey(id));
  }

  /** The active session with this id, pushed back if due; "ended" when it is gone or over. */
  async load(id: string, timeouts: SessionTimeouts): Promise<LoadedSession> {
    if (!isSessionId(id)) return { status: "ended", reason: "malformed session id" };
    const cached = this.opened.get(id);
    const key = cached?.key ?? storageKey(id);
    const stored = await this.store.get(key);
    if (!stored) {
      this.opened.delete(id);
      return { status: "ended", reason: "session unknown, signed out or idle too long" };
    }
    let record = cached?.sealed === stored.value ? cached.record : undefined;
    if (!record) {
      record = openRecord(id, stored.value);
      if (!record) return { status: "ended", reason: "session record unreadable" };
      this.remember(id, { key, sealed: stored.value, record });
    }
    const now = this.now();
    if (now >= record.expiresAt) {
      this.opened.delete(id);
      await this.store.delete(key);
      return { status: "ended", reason: "session reached its absolute timeout" };
    }
    const touchInterval = Math.min(60_000, Math.max(1, Math.floor(timeouts.idle / 10)));
    const ttl = this.ttl(record, timeouts.idle);
    if (stored.ttlMs < ttl - touchInterval) await this.store.touch(key, ttl);
    return { status: "active", id, record };
  }

  /** Replaces a session's record (after a token refresh), keeping its id. */
  async update(id: string, record: SessionRecord, timeouts: SessionTimeouts): Promise<void> {
    this.opened.delete(id);
    await this.store.set(storageKey(id), sealRecord(id, record), this.ttl(record, timeouts.idle));
  }

  async destroy(id: string): Promise<void> {
    this.opened.delete(id);
    if (isSessionId(id)) await this.store.delete(storageKey(id));
  }

  /** Stores a pending sign-in under a fresh state; gives the state. */
  async begin(pending: PendingSignIn): Promise<string> {
    const state = randomBytes(32).toString("base64url");
    await this.store.setPending(`st:${state}`, JSON.stringify(pending), STATE_TTL_MS);
    return state;
  }

  /** The pending sign-in of `state`, removed as it is read: a state works once. */
  async finish(state: string): Promise<PendingSignIn | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(state)) return undefined;
    const text = await this.store.take(`st:${state}`);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as PendingSignIn;
    } catch {
      return undefined;
    }
  }

  private ttl(record: SessionRecord, idle: number): number {
    return Math.max(1, Math.min(idle, record.expiresAt - this.now()));
  }
}

function refreshKey(id: string): string {
  return `r${storageKey(id)}`;
}

/** A random token for CSRF protection (256 bits). */
export function newCsrfToken(): string {
  return randomBytes(32).toString("base64url");
}
