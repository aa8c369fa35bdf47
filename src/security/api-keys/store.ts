/**
 * What an API key store does. The file, Redis and PostgreSQL stores implement the same small
 * contract (test/integration/api-keys/store-contract.ts runs one suite against each); the rules
 * of creating, rotating and revoking live once, in operations.ts, on top of it.
 *
 * Writes are compare-and-set on `revision`, so two operators rotating the same key at once
 * cannot both win and silently lose a secret. `touch` (last-used times) does not bump the
 * revision and does not notify: it is bookkeeping, not a change of what is accepted.
 *
 * Every method rejects with BulwarkError `api_key_store_unavailable` when the backend cannot be
 * reached, and `api_key_store_corrupt` when what it holds cannot be read as records.
 */
import { BulwarkError } from "../../errors.js";
import type { ApiKeyRecord } from "./record.js";

export type StoreKind = "file" | "redis" | "postgres";

export interface ApiKeyStore {
  readonly kind: StoreKind;
  /** True once the store has been reached (file read, connection ready, table present). */
  readonly ready: boolean;
  /** Connects and prepares (creates the table, reads the file); rejects when unreachable. */
  open(): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /**
   * The record without a round trip, when the store holds everything in memory (the file
   * store): a record, null for "no such key", or undefined when it cannot say synchronously.
   */
  peek?(id: string): ApiKeyRecord | null | undefined;
  list(): Promise<ApiKeyRecord[]>;
  /** Adds a record; false when its id is taken. */
  insert(record: ApiKeyRecord): Promise<boolean>;
  /** Replaces the record if its stored revision is still `expectedRevision`; false otherwise. */
  replace(record: ApiKeyRecord, expectedRevision: number): Promise<boolean>;
  /** Moves lastUsedAt forward (never back) for each id; unknown ids are ignored. */
  touch(lastUsed: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Calls `onChange(id)` when a key changes in any process, and `onChange(undefined)` when
   * changes may have been missed (reconnected, file replaced): drop every cached record.
   */
  watch(onChange: (id: string | undefined) => void): void;
  close(): Promise<void>;
}

/** Wraps a backend failure; the message names the store and the error code, never a URL. */
export function storeUnavailable(kind: StoreKind, error: unknown): BulwarkError {
  if (error instanceof BulwarkError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = (error as Error | undefined)?.message ?? String(error);
  const why = code ? `${code}` : message.split("\n")[0]!.slice(0, 200).replace(/\.$/, "");
  return new BulwarkError(
    "api_key_store_unavailable",
    `api key store (${kind}) unreachable: ${why}; check that it is running and its URL`,
    { cause: error },
  );
}
