/**
 * The key caches of every issuer the current config names, shared by all routes that name the
 * same source and carried over reloads, so a reload neither refetches keys nor makes the gateway
 * unready.
 */
import { JwksCache, type KeyLog } from "./jwks-cache.js";

export interface KeySource {
  readonly issuer: string;
  readonly jwksUri?: string | undefined;
  readonly refreshInterval: number;
}

function keyOf(source: KeySource): string {
  return JSON.stringify([source.issuer, source.jwksUri ?? null, source.refreshInterval]);
}

export class JwtKeyRegistry {
  readonly log: KeyLog | undefined;
  private readonly caches = new Map<string, JwksCache>();

  constructor(log?: KeyLog) {
    this.log = log;
  }

  /** The shared cache for a source, created and started on first use. */
  keysFor(source: KeySource): JwksCache {
    const key = keyOf(source);
    let cache = this.caches.get(key);
    if (!cache) {
      cache = new JwksCache({ ...source, log: this.log });
      this.caches.set(key, cache);
      cache.start();
    }
    return cache;
  }

  /** Stops and forgets the caches no source in `keep` uses (after a reload). */
  retain(keep: Iterable<KeySource>): void {
    const wanted = new Set([...keep].map(keyOf));
    for (const [key, cache] of this.caches) {
      if (wanted.has(key)) continue;
      cache.stop();
      this.caches.delete(key);
    }
  }

  /** Issuers whose keys have not been loaded yet; the gateway is not ready while any remain. */
  pending(): string[] {
    return [...this.caches.values()].filter((cache) => !cache.loaded).map((cache) => cache.issuer);
  }

  stop(): void {
    for (const cache of this.caches.values()) cache.stop();
  }
}
