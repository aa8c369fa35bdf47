/**
 * The API key verifier for the gateway's hot path.
 *
 * ```ts
 * const verifier = createApiKeyVerifier(config.server.apiKeys, { log });
 * verifier.verify(presented)   // VerifiedKey | null | Promise<VerifiedKey | null>
 * verifier.check(presented)    // Outcome | Promise<Outcome>: the same, with the refusal reason
 * verifier.ready               // the store has been reached once (file read, connected, table ready)
 * await verifier.close()       // writes pending last-used times, closes the store
 * ```
 *
 * - `verify` answers synchronously (no promise) when the key id's record is cached, and always
 *   with the file store once it is loaded: the file store holds every record in memory.
 * - `VerifiedKey` is `{ id, name, scopes, expiresAt }` (expiresAt in epoch ms or null), frozen.
 * - null: the key is refused — oversized (longer than 256 characters, checked first), malformed,
 *   wrong checksum, unknown id, wrong secret, revoked, expired, or an old secret past its
 *   rotation overlap. The reason is logged at debug level with the key id, never the key; use
 *   `check` to get it (for audit records).
 * - The store cannot be reached (or has not been reached yet): `verify` rejects with a BulwarkError whose code is `api_key_store_unavailable` and
 *   status 503; `check` returns `{ ok: false, reason: "store_unavailable" }`. Map it to 503, not
 *   401: the key may be fine. After a failure the store is not asked again for one second, so an
 *   outage costs no round trip per request.
 *
 * Caching: a bounded map of key id → record (digests decoded once), including ids the store
 * does not know (so a spray of made-up ids costs one lookup each per TTL, not one per request).
 * An entry lives `cacheTtl`; stores push changes (file watch, Redis pub/sub, PostgreSQL
 * LISTEN/NOTIFY), which drop entries at once. A wrong secret for a cached id costs one HMAC.
 * Expiry, revocation and the rotation overlap are checked against the clock on every request.
 *
 * Last-used times are collected in memory and written every `lastUsedInterval` (default 1
 * minute) in one batch: at most one write per key per interval, never one per request.
 */
import { BulwarkError } from "../../errors.js";
import { type KeyFormatReason, parseKey } from "./key-format.js";
import { keyDigest, type Pepper, pepperFrom } from "./key-hash.js";
import {
  acceptDigest,
  type CompiledRecord,
  compileRecord,
  type RefusalReason,
  type VerifiedKey,
} from "./record.js";
import type { ApiKeysConfig } from "./schema.js";
import type { ApiKeyStore } from "./store.js";
import { createApiKeyStore } from "./stores.js";

export type { VerifiedKey } from "./record.js";

export type FailureReason = KeyFormatReason | RefusalReason | "store_unavailable";

export type Outcome =
  | { readonly ok: true; readonly key: VerifiedKey }
  | {
      readonly ok: false;
      readonly reason: FailureReason;
      /** The key id when the key was well formed (not secret). */
      readonly id?: string;
    };

export interface VerifierLog {
  debug(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface ApiKeyVerifier {
  verify(presented: string): VerifiedKey | null | Promise<VerifiedKey | null>;
  check(presented: string): Outcome | Promise<Outcome>;
  readonly ready: boolean;
  close(): Promise<void>;
}

export interface VerifierOptions {
  readonly log: VerifierLog;
  /** A store built by the caller (tests, benchmarks); default: built from config.store. close() closes it. */
  readonly store?: ApiKeyStore;
  readonly now?: () => number;
}

const RETRY_AFTER_FAILURE_MS = 1000;
const OPEN_RETRY_MS = 2000;

interface CacheEntry {
  /** null: the store has no key with this id. */
  readonly compiled: CompiledRecord | null;
  readonly until: number;
}

export function createApiKeyVerifier(config: ApiKeysConfig, options: VerifierOptions): ApiKeyVerifier {
  return new Verifier(config, options);
}

class Verifier implements ApiKeyVerifier {
  private readonly pepper: Pepper;
  private readonly log: VerifierLog;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<CompiledRecord | null>>();
  private pendingTouches = new Map<string, number>();
  private store: ApiKeyStore | undefined;
  /** Bumped on every invalidation, so a lookup that started before it does not cache stale data. */
  private generation = 0;
  private downUntil = 0;
  private opened = false;
  private closed = false;
  private storeDown = false;
  private touchFailing = false;
  private readonly flushTimer: NodeJS.Timeout;
  private openTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ApiKeysConfig,
    options: VerifierOptions,
  ) {
    this.pepper = pepperFrom(config.pepper, "server.apiKeys.pepper");
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.flushTimer = setInterval(() => void this.flush(), config.lastUsedInterval);
    this.flushTimer.unref();
    if (options.store) this.attach(options.store);
    else {
      createApiKeyStore(config.store, {
        onWarning: (message) => this.log.warn({ store: config.store.type }, message),
      }).then(
        (store) => this.attach(store),
        (error: Error) =>
          this.log.warn({ store: config.store.type, error: error.message }, "api key store failed"),
      );
    }
  }

  get ready(): boolean {
    return this.opened;
  }

  private attach(store: ApiKeyStore): void {
    if (this.closed) {
      void store.close();
      return;
    }
    this.store = store;
    store.watch((id) => this.invalidate(id));
    this.open();
  }

  private open(): void {
    const store = this.store;
    if (!store || this.closed) return;
    store.open().then(
      () => {
        this.opened = true;
        this.markUp();
      },
      (error: Error) => {
        this.markDown(error);
        this.openTimer = setTimeout(() => this.open(), OPEN_RETRY_MS);
        this.openTimer.unref();
      },
    );
  }

  private invalidate(id: string | undefined): void {
    this.generation++;
    if (id === undefined) this.cache.clear();
    else this.cache.delete(id);
  }

  verify(presented: string): VerifiedKey | null | Promise<VerifiedKey | null> {
    const outcome = this.check(presented);
    if (outcome instanceof Promise) return outcome.then(toVerified);
    // Unavailability is always a rejection, never a synchronous throw, so callers handle one path.
    if (!outcome.ok && outcome.reason === "store_unavailable")
      return Promise.resolve(outcome).then(toVerified);
    return toVerified(outcome);
  }

  check(presented: string): Outcome | Promise<Outcome> {
    if (typeof presented !== "string") return this.refuse("malformed");
    const parsed = parseKey(presented);
    if (!parsed.ok) return this.refuse(parsed.reason);
    const { id } = parsed;
    const now = this.now();
    const entry = this.cache.get(id);
    if (entry !== undefined && entry.until > now) return this.decide(entry.compiled, id, presented, now);

    const store = this.store;
    const peeked = store?.peek?.(id);
    if (peeked !== undefined) {
      const compiled = peeked === null ? null : compileRecord(peeked);
      this.remember(id, compiled, now);
      return this.decide(compiled, id, presented, now);
    }
    if (!store || now < this.downUntil) return this.refuse("store_unavailable", id);
    return this.lookup(store, id).then(
      (compiled) => this.decide(compiled, id, presented, this.now()),
      () => this.refuse("store_unavailable", id),
    );
  }

  private decide(compiled: CompiledRecord | null, id: string, presented: string, now: number): Outcome {
    if (compiled === null) return this.refuse("unknown_id", id);
    const accepted = acceptDigest(compiled, keyDigest(this.pepper, presented), now);
    if (!accepted.ok) return this.refuse(accepted.reason, id);
    this.pendingTouches.set(id, now);
    return { ok: true, key: accepted.key };
  }

  private refuse(reason: FailureReason, id?: string): Outcome {
    this.log.debug({ reason, keyId: id }, "api key refused");
    return id === undefined ? { ok: false, reason } : { ok: false, reason, id };
  }

  /** One store round trip per id at a time, however many requests wait for it. */
  private lookup(store: ApiKeyStore, id: string): Promise<CompiledRecord | null> {
    const running = this.inflight.get(id);
    if (running) return running;
    const generation = this.generation;
    const pending = store
      .get(id)
      .then(
        (record) => {
          this.markUp();
          const compiled = record ? compileRecord(record) : null;
          if (generation === this.generation) this.remember(id, compiled, this.now());
          return compiled;
        },
        (error: Error) => {
          this.markDown(error);
          throw error;
        },
      )
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, pending);
    return pending;
  }

  private remember(id: string, compiled: CompiledRecord | null, now: number): void {
    this.cache.delete(id);
    if (this.cache.size >= this.config.cacheMaxEntries) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(id, { compiled, until: now + this.config.cacheTtl });
  }

  private markDown(error: Error): void {
    this.downUntil = this.now() + RETRY_AFTER_FAILURE_MS;
    if (this.storeDown) return;
    this.storeDown = true;
    this.log.warn({ store: this.config.store.type, error: error.message }, "api key store unreachable");
  }

  private markUp(): void {
    this.downUntil = 0;
    if (!this.storeDown) return;
    this.storeDown = false;
    this.log.warn({ store: this.config.store.type }, "api key store reachable again");
  }

  /** Writes the last-used times collected since the last flush; kept for the next one on failure. */
  private async flush(): Promise<void> {
    const store = this.store;
    if (!store || this.pendingTouches.size === 0) return;
    const batch = this.pendingTouches;
    this.pendingTouches = new Map();
    try {
      await store.touch(batch);
      this.touchFailing = false;
    } catch (error) {
      for (const [id, at] of batch) {
        if ((this.pendingTouches.get(id) ?? 0) < at) this.pendingTouches.set(id, at);
      }
      if (!this.touchFailing) {
        this.touchFailing = true;
        this.log.warn({ error: (error as Error).message }, "api key last-used times not written; retrying");
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.flushTimer);
    clearTimeout(this.openTimer);
    await this.flush();
    await this.store?.close();
  }
}

function toVerified(outcome: Outcome): VerifiedKey | null {
  if (outcome.ok) return outcome.key;
  if (outcome.reason === "store_unavailable") {
    throw new BulwarkError("api_key_store_unavailable", "api key store unavailable");
  }
  return null;
}
