/**
 * Builds the configured store. The Redis and PostgreSQL clients are imported only when used, so
 * a gateway on the file store does not load them.
 */
import { FileStore } from "./file-store.js";
import type { ApiKeyStoreConfig } from "./schema.js";
import type { ApiKeyStore } from "./store.js";

export interface StoreHooks {
  /** Non-fatal problems (a world-readable keys file, a lost file watch). */
  readonly onWarning?: (message: string) => void;
}

export async function createApiKeyStore(
  config: ApiKeyStoreConfig,
  hooks: StoreHooks = {},
): Promise<ApiKeyStore> {
  switch (config.type) {
    case "file":
      return new FileStore({
        path: config.path,
        pollInterval: config.pollInterval,
        onWarning: hooks.onWarning,
      });
    case "redis": {
      const { RedisKeyStore } = await import("./redis-store.js");
      return new RedisKeyStore({ url: config.url, keyPrefix: config.keyPrefix, timeout: config.timeout });
    }
    case "postgres": {
      const { PostgresKeyStore } = await import("./postgres-store.js");
      return new PostgresKeyStore({ url: config.url, table: config.table, timeout: config.timeout });
    }
  }
}
