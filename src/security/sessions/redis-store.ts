/**
 * The shared session store, for several workers or gateway instances: one Redis key per session
 * or pending sign-in, its Redis TTL being the idle timeout (PEXPIRE on use). Every operation is
 * one command on one key, so it works on Redis Cluster without hash tags. When Redis does not
 * answer within `timeout`, operations reject at once (no offline queue, no retries) and the
 * gateway answers 503 `session_store_unavailable`: a session cannot be checked, so the request
 * cannot be let through (fail closed), and nothing hangs.
 */
import type { Redis } from "ioredis";
import { RedisLink } from "../redis-link.js";
import {
  type SessionStore,
  SessionStoreUnavailable,
  type StoredValue,
  type StoreStateListener,
} from "./store.js";

export interface RedisSessionStoreOptions {
  readonly url: string;
  /** Longest wait for one operation, in milliseconds. */
  readonly timeout: number;
  readonly keyPrefix: string;
}

export class RedisSessionStore implements SessionStore {
  readonly kind = "redis";
  private readonly link: RedisLink;

  constructor(
    private readonly options: RedisSessionStoreOptions,
    onStateChange: StoreStateListener = () => {},
  ) {
    this.link = new RedisLink({ url: options.url, timeout: options.timeout, onStateChange });
  }

  private async run<T>(operation: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await this.link.run(operation);
    } catch (error) {
      throw new SessionStoreUnavailable(error);
    }
  }

  private key(key: string): string {
    return this.options.keyPrefix + key;
  }

  get(key: string): Promise<StoredValue | undefined> {
    return this.run(async (client) => {
      const [value, ttl] = await Promise.all([client.get(this.key(key)), client.pttl(this.key(key))]);
      // PTTL is -2 when the key is gone (it may expire between the two commands) and -1 without a TTL.
      if (value === null || ttl === -2) return undefined;
      return { value, ttlMs: ttl < 0 ? Number.MAX_SAFE_INTEGER : ttl };
    });
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    return this.run(async (client) => {
      await client.set(this.key(key), value, "PX", Math.max(1, Math.ceil(ttlMs)));
    });
  }

  setPending(key: string, value: string, ttlMs: number): Promise<void> {
    return this.set(key, value, ttlMs);
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.run(
      async (client) =>
        (await client.set(this.key(key), value, "PX", Math.max(1, Math.ceil(ttlMs)), "NX")) === "OK",
    );
  }

  touch(key: string, ttlMs: number): Promise<void> {
    return this.run(async (client) => {
      await client.pexpire(this.key(key), Math.max(1, Math.ceil(ttlMs)));
    });
  }

  delete(key: string): Promise<void> {
    return this.run(async (client) => {
      await client.del(this.key(key));
    });
  }

  take(key: string): Promise<string | undefined> {
    // GETDEL (Redis 6.2): read and delete atomically, so two gateways cannot both use one state.
    return this.run(async (client) => (await client.getdel(this.key(key))) ?? undefined);
  }

  addToIndex(key: string, member: string, ttlMs: number): Promise<void> {
    return this.run(async (client) => {
      // Every session of an index lives as long at most (the absolute timeout), so the newest
      // addition's time to live covers the others.
      await client
        .multi()
        .sadd(this.key(key), member)
        .pexpire(this.key(key), Math.max(1, Math.ceil(ttlMs)))
        .exec();
    });
  }

  deleteIndexed(key: string): Promise<number> {
    return this.run(async (client) => {
      const members = await client.smembers(this.key(key));
      const deleted =
        members.length === 0 ? 0 : await client.del(...members.map((member) => this.key(member)));
      await client.del(this.key(key));
      return deleted;
    });
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
