/**
 * The lock-out store shared through Redis: the steps of lockout.ts as Lua scripts, one atomic
 * call per key (each key's three fields share a hash tag, so it is Redis Cluster-safe). Lock-outs
 * use Redis' own expiry, so every gateway agrees when one ends. When Redis is unreachable, checks
 * answer "not locked" (lock-out is a defence in depth, not the authentication itself) and
 * failures are not counted; the caller logs the state change.
 */
import type { Redis } from "ioredis";
import { RedisLink } from "../redis-link.js";
import type { LockoutPolicy, LockoutStore } from "./lockout.js";

// KEYS: failures, level, lock. ARGV: maxFailures, window, lockout, maxLockout (ms).
// Returns the lock-out started in ms, or 0.
const FAIL_SCRIPT = `
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if failures < tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
local level = redis.call('INCR', KEYS[2])
local length = tonumber(ARGV[3]) * 2 ^ math.min(level - 1, 30)
if length > tonumber(ARGV[4]) then length = tonumber(ARGV[4]) end
redis.call('PEXPIRE', KEYS[2], length + tonumber(ARGV[4]) + tonumber(ARGV[2]))
redis.call('SET', KEYS[3], '1', 'PX', length)
return length
`;

type LockoutClient = Redis & {
  bulwarkLockoutFail(
    failures: string,
    level: string,
    lock: string,
    maxFailures: number,
    window: number,
    lockout: number,
    maxLockout: number,
  ): Promise<number>;
};

export interface RedisLockoutOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly timeout: number;
  readonly onError?: (error: Error) => void;
}

export class RedisLockoutStore implements LockoutStore {
  private readonly link: RedisLink<LockoutClient>;

  constructor(
    private readonly policy: LockoutPolicy,
    private readonly options: RedisLockoutOptions,
  ) {
    this.link = new RedisLink<LockoutClient>({
      url: options.url,
      timeout: options.timeout,
      commands: { bulwarkLockoutFail: { numberOfKeys: 3, lua: FAIL_SCRIPT } },
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }

  private keys(key: string): [string, string, string] {
    const base = `${this.options.keyPrefix}{${key}}`;
    return [`${base}:f`, `${base}:l`, `${base}:x`];
  }

  /** Redis unreachable: the operation answers `fallback` (the error went to onError). */
  private async run<T>(fallback: T, operation: (client: LockoutClient) => Promise<T>): Promise<T> {
    try {
      return await this.link.run(operation);
    } catch {
      return fallback;
    }
  }

  lockedFor(keys: readonly string[]): Promise<number> {
    return this.run(0, async (client) => {
      const ttls = await Promise.all(keys.map((key) => client.pttl(this.keys(key)[2])));
      return Math.max(0, ...ttls);
    });
  }

  fail(keys: readonly string[], maxFailures = this.policy.maxFailures): Promise<number> {
    const { window, lockout, maxLockout } = this.policy;
    return this.run(0, async (client) => {
      const started = await Promise.all(
        keys.map((key) =>
          client.bulwarkLockoutFail(...this.keys(key), maxFailures, window, lockout, maxLockout),
        ),
      );
      return Math.max(0, ...started);
    });
  }

  succeed(keys: readonly string[]): Promise<void> {
    return this.run(undefined, async (client) => {
      await Promise.all(keys.map((key) => client.del(this.keys(key)[0])));
    });
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
