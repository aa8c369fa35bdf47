/**
 * Keys shared by several gateways through Redis: one hash per key id
 * (`{PREFIX}:key:<id>`, fields as in record.ts, times as epoch milliseconds, "" for null), a set
 * of ids for listing, and a channel on which every change publishes the key id, so gateways drop
 * a revoked or rotated key from their caches at once. A gateway that was disconnected may have
 * missed messages: it drops its whole cache when the subscription comes back.
 *
 * Writes are Lua scripts (atomic; compare-and-set on the revision field) and every key of a call
 * shares the `{PREFIX}` hash tag, so the store is Redis Cluster-safe. Commands fail at once when
 * Redis is down (no offline queue) and surface as `api_key_store_unavailable`.
 */
import { Redis } from "ioredis";
import { BulwarkError } from "../../errors.js";
import type { ApiKeyRecord } from "./record.js";
import { storedRecordSchema } from "./record.js";
import { type ApiKeyStore, storeUnavailable } from "./store.js";

export interface RedisStoreOptions {
  readonly url: string;
  /** Longest wait for one command, in milliseconds. */
  readonly timeout: number;
  /** Hash-tagged namespace of every key and the channel name. */
  readonly keyPrefix: string;
}

const FIELDS = [
  "id",
  "name",
  "hash",
  "scopes",
  "createdAt",
  "expiresAt",
  "lastUsedAt",
  "revokedAt",
  "rotatedAt",
  "previousHash",
  "previousValidUntil",
  "revision",
] as const;

// KEYS: record, ids set. ARGV: channel, id, then field/value pairs.
const INSERT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`;

// KEYS: record. ARGV: channel, id, expected revision, then field/value pairs.
const REPLACE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'revision') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`;

// KEYS: records. ARGV: times, same order. Only moves lastUsedAt forward.
const TOUCH_SCRIPT = `
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local seen = tonumber(redis.call('HGET', key, 'lastUsedAt'))
    local at = tonumber(ARGV[i])
    if seen == nil or seen < at then redis.call('HSET', key, 'lastUsedAt', ARGV[i]) end
  end
end
return 1
`;

type ScriptedRedis = Redis & {
  apiKeyInsert(record: string, ids: string, ...args: string[]): Promise<number>;
  apiKeyReplace(record: string, ...args: string[]): Promise<number>;
  apiKeyTouch(count: number, ...keysAndArgs: string[]): Promise<number>;
};

export class RedisKeyStore implements ApiKeyStore {
  readonly kind = "redis";
  private readonly client: ScriptedRedis;
  private subscriber: Redis | undefined;
  private connected = false;

  constructor(private readonly options: RedisStoreOptions) {
    this.client = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeout,
      connectTimeout: Math.max(options.timeout, 1000),
      retryStrategy: (times) => Math.min(100 * times, 2000),
    }) as ScriptedRedis;
    this.client.defineCommand("apiKeyInsert", { numberOfKeys: 2, lua: INSERT_SCRIPT });
    this.client.defineCommand("apiKeyReplace", { numberOfKeys: 1, lua: REPLACE_SCRIPT });
    this.client.defineCommand("apiKeyTouch", { lua: TOUCH_SCRIPT });
    // Failures surface through rejected commands; without a listener ioredis prints them.
    this.client.on("error", () => {});
    this.client.on("ready", () => {
      this.connected = true;
    });
    this.client.on("close", () => {
      this.connected = false;
    });
  }

  get ready(): boolean {
    return this.connected;
  }

  private get tag(): string {
    return `{${this.options.keyPrefix}}`;
  }

  private keyOf(id: string): string {
    return `${this.tag}:key:${id}`;
  }

  private get idsKey(): string {
    return `${this.tag}:ids`;
  }

  private get channel(): string {
    return `${this.options.keyPrefix}:changed`;
  }

  async open(): Promise<void> {
    if (this.client.status === "ready") return;
    try {
      if (this.client.status === "wait") await this.client.connect();
      else await this.untilReady();
    } catch (error) {
      throw storeUnavailable("redis", error);
    }
  }

  private untilReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("not connected")),
        Math.max(this.options.timeout, 1000),
      ).unref();
      this.client.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const fields = await this.run(() => this.client.hgetall(this.keyOf(id)));
    if (Object.keys(fields).length === 0) return undefined;
    return decode(fields, this.keyOf(id));
  }

  async list(): Promise<ApiKeyRecord[]> {
    const ids = await this.run(() => this.client.smembers(this.idsKey));
    const records: ApiKeyRecord[] = [];
    for (const id of ids.sort()) {
      const record = await this.get(id);
      if (record) records.push(record);
    }
    return records.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async insert(record: ApiKeyRecord): Promise<boolean> {
    const done = await this.run(() =>
      this.client.apiKeyInsert(
        this.keyOf(record.id),
        this.idsKey,
        this.channel,
        record.id,
        ...encode(record),
      ),
    );
    return done === 1;
  }

  async replace(record: ApiKeyRecord, expectedRevision: number): Promise<boolean> {
    const done = await this.run(() =>
      this.client.apiKeyReplace(
        this.keyOf(record.id),
        this.channel,
        record.id,
        String(expectedRevision),
        ...encode(record),
      ),
    );
    return done === 1;
  }

  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    const entries = [...lastUsed];
    await this.run(() =>
      this.client.apiKeyTouch(
        entries.length,
        ...entries.map(([id]) => this.keyOf(id)),
        ...entries.map(([, at]) => String(at)),
      ),
    );
  }

  watch(onChange: (id: string | undefined) => void): void {
    if (this.subscriber) return;
    const subscriber = this.client.duplicate({ enableOfflineQueue: true, lazyConnect: false });
    this.subscriber = subscriber;
    subscriber.on("error", () => {});
    let subscribedBefore = false;
    subscriber.on("ready", () => {
      // Messages published while we were away are lost (pub/sub has no history): start over.
      if (subscribedBefore) onChange(undefined);
      subscribedBefore = true;
    });
    subscriber.on("message", (_channel: string, id: string) => onChange(id));
    subscriber.subscribe(this.channel).catch(() => {
      // retried by ioredis' auto-resubscribe on reconnect
    });
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.client.disconnect();
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.client.status === "wait") await this.open();
    try {
      return await command();
    } catch (error) {
      throw storeUnavailable("redis", error);
    }
  }
}

function encode(record: ApiKeyRecord): string[] {
  const out: string[] = [];
  for (const field of FIELDS) {
    const value = record[field];
    out.push(field, value === null ? "" : field === "scopes" ? JSON.stringify(value) : String(value));
  }
  return out;
}

function decode(fields: Record<string, string>, key: string): ApiKeyRecord {
  const raw: Record<string, unknown> = {};
  try {
    for (const field of FIELDS) {
      const value = fields[field];
      if (field === "id" || field === "name" || field === "hash") raw[field] = value;
      else if (field === "scopes") raw[field] = value === undefined ? undefined : JSON.parse(value);
      else if (field === "previousHash") raw[field] = value === "" ? null : value;
      else raw[field] = value === "" ? null : value === undefined ? undefined : Number(value);
    }
  } catch {
    throw new BulwarkError("api_key_store_corrupt", `api key store (redis): ${key} holds invalid scopes`);
  }
  const parsed = storedRecordSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BulwarkError(
      "api_key_store_corrupt",
      `api key store (redis): ${key} field ${issue.path.join(".")}: ${issue.message.toLowerCase()}`,
    );
  }
  return parsed.data;
}
