/**
 * The shared store: the GCRA step (gcra.ts) as one Lua script, so each decision is one atomic
 * round trip (EVALSHA through ioredis' defineCommand). The script reads the clock with Redis'
 * TIME, so every gateway sharing the server agrees on "now" whatever their own clocks say.
 * Each call touches one key, and keys are wrapped in a hash tag, so it is Redis Cluster-safe.
 *
 * When Redis cannot answer (down, or slower than `timeout`), take() rejects at once (no offline
 * queue, no retries) and the caller applies the configured fail mode. The observer hears every
 * error, but a state change (up → down → up) only once each way.
 */
import { Redis } from "ioredis";
import { type GcraDecision, type GcraParams, gcraDecision } from "./gcra.js";
import type { RateLimitStore, StoreObserver } from "./store.js";

// Integers in microseconds throughout; string.format("%.0f") keeps them exact when stored
// (Lua's tostring would write 1.7e+15). Returns {admitted, tat' - now}.
const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local nxt = tat + interval
local ahead = nxt - now
if ahead <= capacity * interval then
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000))
  return {1, ahead}
end
return {0, ahead}
`;

type GcraClient = Redis & {
  bulwarkGcra(key: string, interval: number, capacity: number): Promise<[number, number]>;
};

export interface RedisStoreOptions {
  readonly url: string;
  /** Longest wait for one decision, in milliseconds. */
  readonly timeout: number;
  readonly keyPrefix: string;
}

export class RedisStore implements RateLimitStore {
  readonly kind = "redis";
  private client: GcraClient | undefined;
  /** Until the first connection is up, decisions wait for it (at most `timeout`). */
  private firstReady: Promise<void> | undefined;
  private up = true;

  constructor(
    private readonly options: RedisStoreOptions,
    private readonly observer: StoreObserver,
  ) {}

  /** Created on first use, so building a runtime stays synchronous and cheap. */
  private connection(): GcraClient {
    if (this.client) return this.client;
    const client = new Redis(this.options.url, {
      lazyConnect: false,
      // Decisions issued in the same tick (several rules, concurrent requests) go out in one
      // write and come back in one read, instead of a round trip each.
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.options.timeout,
      connectTimeout: Math.max(this.options.timeout, 1000),
      retryStrategy: (times) => Math.min(100 * times, 1000),
    }) as GcraClient;
    client.defineCommand("bulwarkGcra", { numberOfKeys: 1, lua: GCRA_SCRIPT });
    // Connection errors surface through failed commands; without a listener ioredis prints them.
    client.on("error", () => {});
    this.firstReady = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.timeout).unref();
      client.once("ready", () => {
        clearTimeout(timer);
        this.firstReady = undefined;
        resolve();
      });
    });
    this.client = client;
    return client;
  }

  async take(key: string, params: GcraParams): Promise<GcraDecision> {
    try {
      const client = this.connection();
      if (this.firstReady) await this.firstReady;
      const [admitted, ahead] = await client.bulwarkGcra(
        `${this.options.keyPrefix}{${key}}`,
        params.interval,
        params.capacity,
      );
      if (!this.up) {
        this.up = true;
        this.observer.stateChanged(true);
      }
      return gcraDecision(admitted === 1, ahead, params);
    } catch (error) {
      this.observer.error();
      if (this.up) {
        this.up = false;
        this.observer.stateChanged(false, (error as Error).message);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) client.disconnect();
  }
}
