/**
 * A Redis connection for decisions on the request path (rate limits, sessions, lock-outs): made
 * on first use, so building a runtime stays synchronous; commands fail at once when Redis is
 * down or slower than `timeout` (no offline queue, no retries), so nothing hangs a request and
 * the caller applies its own fail mode; until the very first connection is up, a call waits for
 * it (at most `timeout`). Up/down changes are reported once each way, so an outage logs one
 * line, not one per request.
 */
import { Redis } from "ioredis";

export interface RedisLinkOptions {
  readonly url: string;
  /** Longest wait for one command, and for the first connection, in milliseconds. */
  readonly timeout: number;
  /** Send the commands of one event-loop turn in one write (default true). */
  readonly autoPipelining?: boolean;
  /** Scripts to define on the client (ioredis defineCommand): name → definition. */
  readonly commands?: Readonly<Record<string, { readonly numberOfKeys?: number; readonly lua: string }>>;
  /** Called on every failed operation. */
  readonly onError?: (error: Error) => void;
  /** Called when Redis stops or starts answering. */
  readonly onStateChange?: (up: boolean, reason?: string) => void;
}

export class RedisLink<C extends Redis = Redis> {
  private client: C | undefined;
  private firstReady: Promise<void> | undefined;
  private up = true;

  constructor(private readonly options: RedisLinkOptions) {}

  private connection(): C {
    if (this.client) return this.client;
    const client = new Redis(this.options.url, {
      // Commands issued in the same tick (concurrent requests) go out in one write and come back
      // in one read, instead of a round trip each.
      enableAutoPipelining: this.options.autoPipelining ?? true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.options.timeout,
      connectTimeout: Math.max(this.options.timeout, 1000),
      retryStrategy: (times) => Math.min(100 * times, 1000),
    }) as C;
    for (const [name, definition] of Object.entries(this.options.commands ?? {})) {
      client.defineCommand(name, { ...definition });
    }
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

  /** Runs one operation; rejects with Redis' error when it cannot be done now. */
  async run<T>(operation: (client: C) => Promise<T>): Promise<T> {
    try {
      const client = this.connection();
      if (this.firstReady) await this.firstReady;
      const result = await operation(client);
      if (!this.up) {
        this.up = true;
        this.options.onStateChange?.(true);
      }
      return result;
    } catch (error) {
      this.options.onError?.(error as Error);
      if (this.up) {
        this.up = false;
        this.options.onStateChange?.(false, (error as Error).message);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    client?.disconnect();
  }
}
