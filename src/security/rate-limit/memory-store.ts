/**
 * The embedded store: one Map of key → TAT per process. Bounded: at most `maxKeys` entries.
 * The Map keeps keys in order of last update (an update deletes and re-inserts), so the first
 * entry is always the least recently updated. Each insert first drops up to two expired entries
 * from the front (an expired TAT means a full allowance, the same as no entry); when the map is
 * still full, it drops the expired ones among the 16 least recently updated entries, and only
 * when there are none it evicts the least recently updated entry although it is live, which
 * gives that key a fresh allowance: a spray of more than `maxKeys` live keys weakens limits
 * rather than exhausting memory. Per process: with `server.workers: N`, each worker counts on
 * its own, so use the Redis store when limits must hold across workers or instances.
 */
import { type GcraDecision, type GcraParams, gcraStep } from "./gcra.js";
import type { RateLimitStore } from "./store.js";

export const DEFAULT_MAX_KEYS = 100_000;
/** Entries a full map scans, from the least recently updated, for an expired one to drop. */
const SCAN = 16;

/** Microseconds on a monotonic clock. */
export type MicroClock = () => number;

const monotonicMicros: MicroClock = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

export class MemoryStore implements RateLimitStore {
  readonly kind = "memory";
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly maxKeys = DEFAULT_MAX_KEYS,
    private readonly clock: MicroClock = monotonicMicros,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  takeAll(keys: readonly string[], params: readonly GcraParams[]): GcraDecision[] {
    return keys.map((key, index) => this.take(key, params[index]!));
  }

  take(key: string, params: GcraParams): GcraDecision {
    const now = this.clock();
    const stored = this.entries.get(key);
    const { tat, decision } = gcraStep(stored, now, params);
    if (tat !== null) {
      if (stored !== undefined) this.entries.delete(key);
      else this.makeRoom(now);
      this.entries.set(key, tat);
    }
    return decision;
  }

  private makeRoom(now: number): void {
    let checked = 0;
    for (const [key, tat] of this.entries) {
      if (checked++ >= 2 || tat > now) break;
      this.entries.delete(key);
    }
    if (this.entries.size < this.maxKeys) return;
    checked = 0;
    let freed = false;
    for (const [key, tat] of this.entries) {
      if (checked++ >= SCAN) break;
      if (tat <= now) {
        this.entries.delete(key);
        freed = true;
      }
    }
    while (!freed && this.entries.size >= this.maxKeys) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
