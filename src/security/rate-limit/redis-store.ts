/**
 * The shared store: the GCRA step (gcra.ts) as one Lua script, so each decision is one atomic
 * round trip (EVALSHA through ioredis' defineCommand). The script reads the clock with Redis'
 * TIME, so every gateway sharing the server agrees on "now" whatever their own clocks say.
 * Each call touches one key, and keys are wrapped in a hash tag, so it is Redis Cluster-safe.
 *
 * When Redis cannot answer (down, or slower than `timeout`), take() rejects at once (no offline
 * queue, no retries) and the caller applies the configured fail mode. The observer hears every
 * error, but a state change (up → down → up) only once each way.
 *
 * Decisions asked for in the same turn of the event loop (the requests whose headers arrived
 * together) are sent as one script run: one command for ioredis to build and parse, one EVALSHA
 * for Redis, one clock reading, instead of one each per request. The script steps the keys in
 * order, so two requests of one batch on the same key see each other exactly as two separate
 * calls would. Under load this halves the CPU a decision costs the gateway and Redis
 * (docs/performance.md); alone, a request waits for nothing but the end of its loop turn.
 */
import type { Redis } from "ioredis";
import { RedisLink } from "../redis-link.js";
import { type GcraDecision, type GcraParams, gcraDecision } from "./gcra.js";
import type { RateLimitStore, StoreObserver } from "./store.js";

// Keys per script run: a busy turn is split into several runs so no single script (which blocks
// Redis while it runs) grows without bound.
const MAX_BATCH_KEYS = 512;

interface PendingDecision {
  readonly keys: readonly string[];
  readonly params: readonly GcraParams[];
  resolve(decisions: GcraDecision[]): void;
  reject(error: unknown): void;
}

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
// per key; returns {admitted, ahead} per key, flattened. One script run per request, or per batch
// of requests (below), however many rules they have. A key that appears several times (one client
// or subject across a batch) is read once, stepped in order in a Lua table, and written once at
// the end: the same decisions as separate calls, for a GET and a SET per distinct key instead of
// per decision. The keys of one call may lie in different Redis Cluster slots: with `singleSlot`
// (Redis Cluster behind a cluster-aware proxy) every key gets its own call instead.
const GCRA_MANY_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local dirty = {}
local changed = {}
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local tat = tats[key]
  if tat == nil then
    tat = tonumber(redis.call('GET', key)) or 0
    tats[key] = tat
  end
  if tat < now then tat = now end
  local nxt = tat + interval
  local ahead = nxt - now
  if ahead <= capacity * interval then
    if not dirty[key] then
      dirty[key] = true
      changed[#changed + 1] = key
    end
    tats[key] = nxt
    out[2 * i - 1] = 1
  else
    out[2 * i - 1] = 0
  end
  out[2 * i] = ahead
end
for j = 1, #changed do
  local key = changed[j]
  local tat = tats[key]
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
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
  private pending: PendingDecision[] = [];
  private pendingKeys = 0;

  constructor(
    private readonly options: RedisStoreOptions,
    observer: StoreObserver,
  ) {
    this.link = new RedisLink<GcraClient>({
      url: options.url,
      timeout: options.timeout,
      // The store batches its own commands (below), where ioredis' pipelining would only add a
      // turn; with singleSlot (one command per key) ioredis pipelines them instead.
      autoPipelining: options.singleSlot === true,
      commands: {
        bulwarkGcra: { numberOfKeys: 1, lua: GCRA_SCRIPT },
        bulwarkGcraMany: { lua: GCRA_MANY_SCRIPT },
      },
      onError: () => observer.error(),
      onStateChange: (up, reason) => observer.stateChanged(up, reason),
    });
  }

  takeAll(keys: readonly string[], params: readonly GcraParams[]): Promise<GcraDecision[]> {
    if (this.options.singleSlot) {
      return Promise.all(keys.map((key, index) => this.take(key, params[index]!)));
    }
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(this.flush);
      else if (this.pendingKeys + keys.length > MAX_BATCH_KEYS) this.flush();
      this.pending.push({ keys, params, resolve, reject });
      this.pendingKeys += keys.length;
    });
  }

  /** Sends the decisions waiting in this turn as one script run and hands each its answers. */
  private readonly flush = (): void => {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingKeys = 0;
    const args: (string | number)[] = [0];
    for (const entry of batch) {
      for (const key of entry.keys) args.push(`${this.options.keyPrefix}{${key}}`);
    }
    args[0] = args.length - 1;
    for (const entry of batch) {
      for (const param of entry.params) args.push(param.interval, param.capacity);
    }
    this.link
      .run((client) => client.bulwarkGcraMany(...args))
      .then(
        (flat) => {
          let offset = 0;
          for (const entry of batch) {
            entry.resolve(
              entry.params.map((param, index) =>
                gcraDecision(flat[2 * (offset + index)] === 1, flat[2 * (offset + index) + 1]!, param),
              ),
            );
            offset += entry.keys.length;
          }
        },
        (error: unknown) => {
          for (const entry of batch) entry.reject(error);
        },
      );
  };

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
