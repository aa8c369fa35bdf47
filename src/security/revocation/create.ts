/** Builds the configured deny-list store. */
import { MemoryDenyList, type TokenDenyList } from "./deny-list.js";
import { RedisDenyList, type RedisDenyListOptions } from "./redis-deny-list.js";
import type { TokenRevocationConfig } from "./schema.js";

export function createDenyList(
  config: TokenRevocationConfig,
  log?: RedisDenyListOptions["log"],
): TokenDenyList {
  if (config.type === "memory") return new MemoryDenyList(config.maxEntries);
  return new RedisDenyList({
    url: config.url,
    keyPrefix: config.keyPrefix,
    syncInterval: config.syncInterval,
    maxEntries: config.maxEntries,
    ...(log ? { log } : {}),
  });
}
