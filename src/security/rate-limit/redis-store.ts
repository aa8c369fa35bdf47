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
import type { Redis } from "ioredis";
import { RedisLink } from "../redis-link.js";
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

// The same step for each of several keys, on one clock reading: ARGV holds interval, capacity
// per key; returns {admitted, ahead} per key, flattened. One script run per request however many
// rules the route has. The keys of one call may lie in different Redis Cluster slots: with
// `singleSlot` (Redis Cluster behind a cluster-aware proxy) every key gets its own call instead.
const GCRA_MANY_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  local nxt = tat + interval
  local ahead = nxt - now
  if ahead <= capacity * interval then
    redis.call('SET', KEYS[i], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000))
    out[2 * i - 1] = 1
  else
    out[2 * i - 1] = 0
  end
  out[2 * i] = ahead
end
return out
`;

type GcraClient = Redis & {
  bulwarkGcra(key: string, interval: number, capacity: number): Promise<[number, number]>;
  bulwarkGcraMany(...args: (string | number)[]): Promise<number[]>;
};

export interface RedisStoreOptions {
  readonly url: string;
  /** Longest wait for one decision, in milliseconds. */
  readonly timeout: number;
  readonly keyPrefix: string;
  /** One call per key, so every command touches one Cluster slot. */
  readonly singleSlot?: boolean;
}

export class RedisStore implements RateLimitStore {
  readonly kind = "redis";
  private readonly link: RedisLink<GcraClient>;

  constructor(
    private readonly options: RedisStoreOptions,
    observer: StoreObserver,
  ) {
    this.link = new RedisLink<GcraClient>({
      url: options.url,
      timeout: options.timeout,
      commands: {
        bulwarkGcra: { numberOfKeys: 1, lua: GCRA_SCRIPT },
        bulwarkGcraMany: { lua: GCRA_MANY_SCRIPT },
      },
      onError: () => observer.error(),
      onStateChange: (up, reason) => observer.stateChanged(up, reason),
    });
  }

  async takeAll(keys: readonly string[], params: readonly GcraParams[]): Promise<GcraDecision[]> {
    if (keys.length === 1 || this.options.singleSlot) {
      return Promise.all(keys.map((key, index) => this.take(key, params[index]!)));
    }
    return this.link.run(async (client) => {
      const args: (string | number)[] = [keys.length];
      for (const key of keys) args.push(`${this.options.keyPrefix}{${key}}`);
      for (const param of params) args.push(param.interval, param.capacity);
      const flat = await client.bulwarkGcraMany(...args);
      return params.map((param, index) => gcraDecision(flat[2 * index] === 1, flat[2 * index + 1]!, param));
    });
  }

  take(key: string, params: GcraParams): Promise<GcraDecision> {
    return this.link.run(async (client) => {
      const [admitted, ahead] = await client.bulwarkGcra(
        `${this.options.keyPrefix}{${key}}`,
        params.interval,
        params.capacity,
      );
      return gcraDecision(admitted === 1, ahead, params);
    });
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
