/**
 * Config schema of API keys (to be referenced from src/config/schema.ts):
 *
 * - `server.apiKeys` (apiKeysSchema): the pepper, the store and the verifier's cache — process
 *   wide, shared by every route and by `bulwark keys -c FILE`;
 * - a route's `auth.apiKey` (apiKeyAuthSchema): where the key is read and which scopes it needs.
 *
 * ```yaml
 * server:
 *   apiKeys:
 *     pepper: ${file:/run/secrets/bulwark-api-key-pepper}
 *     store: { type: postgres, url: "${env:KEYS_DATABASE_URL}" }
 * ```
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { duration } from "../../config/units.js";
import { MIN_PEPPER_BYTES } from "./key-hash.js";
import { SCOPE } from "./record.js";

export const DEFAULT_KEYS_FILE = "api-keys.json";
/** PostgreSQL table names accepted (a plain identifier, so it is never quoted wrongly). */
export const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const fileStore = z
  .strictObject({
    type: z.literal("file").describe("one JSON file (mode 0600); the embedded default, one machine"),
    path: z
      .string()
      .min(1)
      .default(DEFAULT_KEYS_FILE)
      .describe("keys file, relative to the config file's directory"),
    pollInterval: duration("how often the file's stat is checked, besides change events").default(2000),
  })
  .describe("keys in a local file");

const redisStore = z
  .strictObject({
    type: z.literal("redis").describe("keys shared by several gateways through Redis"),
    url: z.string().min(1).describe("redis:// or rediss:// URL; put a password in an env or file reference"),
    keyPrefix: z
      .string()
      .min(1)
      .regex(/^[^{}]+$/, { message: "expected no braces (the prefix becomes the hash tag)" })
      .default("bulwark:apikeys")
      .describe("namespace of every Redis key (as a Cluster hash tag) and of the change channel"),
    timeout: duration("longest wait for one Redis command").default(1000),
  })
  .describe("keys in Redis");

const postgresStore = z
  .strictObject({
    type: z.literal("postgres").describe("keys shared by several gateways through PostgreSQL"),
    url: z
      .string()
      .regex(/^postgres(?:ql)?:\/\//, { message: "expected a postgres:// URL" })
      .describe("postgres:// URL; put a password in an env or file reference"),
    table: z
      .string()
      .regex(TABLE_NAME, { message: "expected a lowercase identifier such as bulwark_api_keys" })
      .default("bulwark_api_keys")
      .describe("table holding the keys; created if missing"),
    timeout: duration("connect and statement timeout").default(2000),
  })
  .describe("keys in PostgreSQL");

export const apiKeyStoreSchema = z
  .discriminatedUnion("type", [fileStore, redisStore, postgresStore])
  .default({ type: "file", path: DEFAULT_KEYS_FILE, pollInterval: 2000 })
  .describe("where API key records (hashes, never keys) live");

export const apiKeysSchema = z
  .strictObject({
    pepper: z
      .string()
      .refine((value) => Buffer.byteLength(value, "utf8") >= MIN_PEPPER_BYTES, {
        message: `expected at least ${MIN_PEPPER_BYTES} bytes (openssl rand -base64 48)`,
      })
      .describe(
        `HMAC key of the stored key hashes: a \${file:} or \${env:} reference, never a literal; changing it invalidates every key`,
      ),
    store: apiKeyStoreSchema,
    cacheTtl: duration(
      "how long a verified key's record is trusted without asking the store (changes are also pushed)",
    ).default(30_000),
    cacheMaxEntries: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe("most key ids (known and unknown) kept in the verifier's cache; the oldest go first"),
    lastUsedInterval: duration("how often last-used times are written to the store (per key at most once)")
      .refine((ms) => ms >= 1000, { message: "expected at least 1s" })
      .default(60_000),
  })
  .describe("API keys: the pepper and the store shared by `bulwark keys` and the gateway");

export const apiKeyAuthSchema = z
  .strictObject({
    header: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected a header name" })
      .default("x-api-key")
      .describe('request header carrying the key ("authorization" reads `Bearer bwk_…`)'),
    scopes: z
      .array(z.string().regex(SCOPE, { message: "expected a scope such as orders:read" }))
      .default([])
      .describe("scopes a key must have, all of them, to use the route"),
  })
  .describe("API keys created with `bulwark keys create`");

export type ApiKeysConfig = z.output<typeof apiKeysSchema>;
export type ApiKeyAuthConfig = z.output<typeof apiKeyAuthSchema>;
export type ApiKeyStoreConfig = z.output<typeof apiKeyStoreSchema>;

/** Resolves the file store's path against the config file's directory. */
export function resolveApiKeysConfig(config: ApiKeysConfig, baseDir: string): ApiKeysConfig {
  if (config.store.type !== "file" || isAbsolute(config.store.path)) return config;
  return { ...config, store: { ...config.store, path: resolve(baseDir, config.store.path) } };
}
