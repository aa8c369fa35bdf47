/**
 * The deny-list shared through Redis: a sorted set (member jti, score expiry in epoch ms) holds
 * every revocation; a revocation is also published on a channel so every gateway mirrors it
 * within moments. Each process keeps the whole list in memory (MemoryDenyList) and re-reads the
 * set periodically and after every reconnect, so a missed message is repaired within one sync
 * interval. While Redis is unreachable the mirror keeps serving the last known list (revoked
 * tokens stay refused); new revocations fail with an error the operator sees.
 */
import { Redis } from "ioredis";
import { MemoryDenyList, type Revocation, type TokenDenyList } from "./deny-list.js";

export interface RedisDenyListOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly syncInterval: number;
  readonly maxEntries: number;
  readonly log?: {
    info(fields: object, message: string): void;
    error(fields: object, message: string): void;
  };
}

export class RedisDenyList implements TokenDenyList {
  private readonly mirror: MemoryDenyList;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly key: string;
  private readonly channel: string;
  private readonly timer: NodeJS.Timeout;
  private synced = false;
  private up = true;

  constructor(private readonly options: RedisDenyListOptions) {
    this.mirror = new MemoryDenyList(options.maxEntries);
    this.key = `${options.keyPrefix}jti`;
    this.channel = `${options.keyPrefix}jti:revoked`;
    const common = { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false } as const;
    this.client = new Redis(options.url, common);
    this.subscriber = new Redis(options.url, {
      ...common,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
    });
    for (const connection of [this.client, this.subscriber]) connection.on("error", () => {});
    this.client.on("ready", () => void this.sync());
    this.subscriber.on("ready", () => void this.subscriber.subscribe(this.channel).catch(() => {}));
    this.subscriber.on("message", (_channel: string, message: string) => this.onMessage(message));
    this.timer = setInterval(() => void this.sync(), options.syncInterval);
    this.timer.unref();
  }

  get ready(): boolean {
    return this.synced;
  }

  isRevoked(jti: string, now?: number): boolean {
    return this.mirror.isRevoked(jti, now);
  }

  list(now?: number): Revocation[] {
    return this.mirror.list(now);
  }

  async revoke(revocation: Revocation): Promise<void> {
    // GT: a revocation only ever lengthens (Redis ≥ 6.2).
    await this.client
      .multi()
      .zadd(this.key, "GT", revocation.expiresAt, revocation.jti)
      .publish(this.channel, JSON.stringify(revocation))
      .exec();
    this.mirror.add(revocation);
  }

  /** Drops expired entries and replaces the mirror with the set's content. */
  async sync(): Promise<void> {
    try {
      const now = Date.now();
      const [, live] = (await this.client
        .multi()
        .zremrangebyscore(this.key, "-inf", now)
        .zrangebyscore(this.key, now + 1, "+inf", "WITHSCORES")
        .exec()) as [[Error | null, number], [Error | null, string[]]];
      if (live[0]) throw live[0];
      const entries: Revocation[] = [];
      const flat = live[1];
      for (let index = 0; index + 1 < flat.length; index += 2) {
        entries.push({ jti: flat[index]!, expiresAt: Number(flat[index + 1]) });
      }
      this.mirror.replace(entries, now);
      this.synced = true;
      if (!this.up) {
        this.up = true;
        this.options.log?.info({ entries: entries.length }, "token deny-list store reachable again");
      }
    } catch (error) {
      if (this.up) {
        this.up = false;
        this.options.log?.error(
          { reason: (error as Error).message },
          "token deny-list store unreachable; serving the last known list",
        );
      }
    }
  }

  private onMessage(message: string): void {
    try {
      const revocation = JSON.parse(message) as Revocation;
      if (typeof revocation.jti === "string" && typeof revocation.expiresAt === "number")
        this.mirror.add(revocation);
    } catch {
      // A malformed message is ignored; the next sync repairs the mirror.
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
