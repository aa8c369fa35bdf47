/**
 * The one store a process uses for every route's rules, made on first use (so building a runtime
 * stays cheap) and kept across reloads (store settings live under `server`, which a reload may
 * not change).
 */
import { MemoryStore } from "./memory-store.js";
import { RedisStore } from "./redis-store.js";
import type { RateLimitStore, StoreObserver } from "./store.js";

export type StoreSettings =
  | { readonly type: "memory"; readonly maxKeys: number }
  | {
      readonly type: "redis";
      readonly url: string;
      readonly failMode: "open" | "closed";
      readonly timeout: number;
      readonly keyPrefix: string;
      readonly singleSlot: boolean;
    };

export class RateLimitStores {
  private store: RateLimitStore | undefined;

  constructor(
    readonly settings: StoreSettings,
    private readonly observer: StoreObserver,
  ) {}

  get failOpen(): boolean {
    return this.settings.type === "memory" || this.settings.failMode === "open";
  }

  get(): RateLimitStore {
    if (!this.store) {
      const settings = this.settings;
      this.store =
        settings.type === "memory"
          ? new MemoryStore(settings.maxKeys)
          : new RedisStore(
              {
                url: settings.url,
                timeout: settings.timeout,
                keyPrefix: settings.keyPrefix,
                singleSlot: settings.singleSlot,
              },
              this.observer,
            );
    }
    return this.store;
  }

  async close(): Promise<void> {
    const store = this.store;
    this.store = undefined;
    await store?.close();
  }
}
