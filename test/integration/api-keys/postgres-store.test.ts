/**
 * The store contract against a real PostgreSQL 15, plus outages: with the server killed, stores
 * and the verifier report `api_key_store_unavailable` instead of crashing, and recover (and pick
 * up changes made while the listener was away) when it is back.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { newKey, newKeyId } from "../../../src/security/api-keys/key-format.js";
import { createKey, revokeKey } from "../../../src/security/api-keys/operations.js";
import { PostgresKeyStore } from "../../../src/security/api-keys/postgres-store.js";
import { createApiKeyVerifier } from "../../../src/security/api-keys/verifier.js";
import { startPostgres, type TestPostgres } from "../../support/postgres.js";
import { eventually, PEPPER_TEXT, pepper, silentLog, storeContract } from "./store-contract.js";

let postgres: TestPostgres | undefined;
after(async () => {
  await postgres?.close();
});

async function server(): Promise<TestPostgres> {
  postgres ??= await startPostgres();
  return postgres;
}

storeContract("postgres", async () => {
  const pg = await server();
  const url = await pg.createDatabase("keys_contract");
  const options = { url, table: "bulwark_api_keys", timeout: 2000 };
  return {
    config: { type: "postgres", ...options },
    open: async () => new PostgresKeyStore(options),
    close: async () => {},
  };
});

describe("postgres store specifics and outages", () => {
  let url: string;
  before(async () => {
    url = await (await server()).createDatabase("keys_outage");
  });

  test("the table is created once even when several stores open at the same time", async () => {
    const stores = Array.from(
      { length: 4 },
      () => new PostgresKeyStore({ url, table: "raced_keys", timeout: 5000 }),
    );
    await Promise.all(stores.map((store) => store.open()));
    await Promise.all(stores.map((store) => store.close()));
    const rows = await postgres!.query(
      "select column_name from information_schema.columns where table_name = 'raced_keys' order by ordinal_position",
      [],
      "keys_outage",
    );
    assert.equal(rows[0]!.column_name, "id");
    assert.equal(rows.length, 12);
  });

  test("PostgreSQL killed: a coded error, no crash; the verifier recovers and sees changes made meanwhile", async () => {
    const options = { url, table: "bulwark_api_keys", timeout: 1000 };
    const store = new PostgresKeyStore(options);
    const { key, record } = await createKey(store, pepper, { name: "outage", scopes: [], expiresAt: null });
    const log = silentLog();
    const verifier = createApiKeyVerifier(
      {
        pepper: PEPPER_TEXT,
        store: { type: "postgres", ...options },
        cacheTtl: 60_000,
        cacheMaxEntries: 100,
        lastUsedInterval: 1000,
      },
      { log, store: new PostgresKeyStore(options) },
    );
    try {
      await eventually(() => verifier.ready, "verifier ready");
      assert.ok(await verifier.verify(key));
      await postgres!.kill();
      const uncached = newKey(newKeyId());
      await assert.rejects(Promise.resolve(verifier.verify(uncached)), {
        code: "api_key_store_unavailable",
        status: 503,
      });
      await assert.rejects(store.list(), { code: "api_key_store_unavailable" });
      await postgres!.start();
      // Revoked while the verifier's listener reconnects: it must drop its cache and see it.
      await eventually(
        async () => {
          try {
            await revokeKey(store, record.id);
            return true;
          } catch {
            return false;
          }
        },
        "revocation after restart",
        20_000,
      );
      await eventually(
        async () => {
          try {
            return (await verifier.verify(key)) === null;
          } catch {
            return false;
          }
        },
        "revocation seen after the outage",
        20_000,
      );
      assert.ok(log.lines.some((line) => line.includes("api key store unreachable")));
    } finally {
      await verifier.close();
      await store.close();
    }
  });
});
