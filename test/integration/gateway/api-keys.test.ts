/**
 * API keys through a real gateway: keys made by the same code as `bulwark keys` into a real file
 * store (and a real Redis store), checked on a route that also takes bearer JWTs from a real
 * OpenID provider. Scopes, identity headers, revocation seen without a restart, the store going
 * away, and keys never appearing in logs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { FileStore } from "../../../src/security/api-keys/file-store.js";
import { pepperFrom } from "../../../src/security/api-keys/key-hash.js";
import { createKey, revokeKey } from "../../../src/security/api-keys/operations.js";
import { RedisKeyStore } from "../../../src/security/api-keys/redis-store.js";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startOidcProvider, type TestOidcProvider } from "../../support/oidc.js";
import { startRedis, type TestRedis } from "../../support/redis.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

const PEPPER = "pepper-for-tests-0123456789abcdef0123456789";
type Echo = { headers: Record<string, string | undefined> };

async function call(gw: TestGateway, path: string, headers: Record<string, string>) {
  const response = await request(`${gw.url}${path}`, { headers });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("API keys in the gateway (file store)", () => {
  let dir: string;
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let gw: TestGateway;
  let store: FileStore;
  let reader: string;
  let readerId: string;
  let writer: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-gw-keys-"));
    const path = join(dir, "api-keys.json");
    store = new FileStore({ path });
    const pepper = pepperFrom(PEPPER);
    const issuedReader = await createKey(store, pepper, {
      name: "reader",
      scopes: ["orders:read"],
      expiresAt: null,
    });
    reader = issuedReader.key;
    readerId = issuedReader.record.id;
    writer = (
      await createKey(store, pepper, {
        name: "writer",
        scopes: ["orders:read", "orders:write"],
        expiresAt: null,
      })
    ).key;
    [idp, upstream] = await Promise.all([startOidcProvider(), startUpstream()]);
    gw = await startGateway(
      {
        logging: { level: "debug" },
        server: {
          apiKeys: { pepper: "${env:PEPPER}", store: { type: "file", path, pollInterval: "100ms" } },
        },
        upstreams: { app: { targets: [upstream.url] } },
        routes: [
          {
            name: "orders",
            match: { pathPrefix: "/orders" },
            upstream: "app",
            rewritePrefix: "/echo",
            auth: {
              apiKey: { scopes: ["orders:read"] },
              jwt: { issuer: idp.issuer, audience: "api" },
              identityHeaders: { "X-Principal": "sub", "X-Scopes": "scope" },
            },
          },
          {
            name: "writes",
            match: { pathPrefix: "/write" },
            upstream: "app",
            rewritePrefix: "/echo",
            auth: { apiKey: { header: "authorization" } },
            authorize: { scopes: ["orders:write"] },
          },
        ],
      },
      { env: { PEPPER } },
    );
    await gw.waitReady();
  });

  after(async () => {
    await gw.stop();
    await Promise.all([upstream.close(), idp.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a valid key passes; the upstream gets the key id and scopes, never the client's copies", async () => {
    const result = await call(gw, "/orders", { "x-api-key": reader, "x-principal": "admin" });
    assert.equal(result.status, 200, result.text);
    const echo = JSON.parse(result.text) as Echo;
    assert.equal(echo.headers["x-principal"], readerId);
    assert.equal(echo.headers["x-scopes"], "orders:read");
    assert.equal(echo.headers["x-api-key"], undefined, "the key is not sent upstream");
  });

  test("the same route still takes bearer JWTs; Bearer bwk_… goes to the API key method", async () => {
    const token = await idp.sign({ sub: "service-a" });
    const jwt = await call(gw, "/orders", { authorization: `Bearer ${token}` });
    assert.equal((JSON.parse(jwt.text) as Echo).headers["x-principal"], "service-a");
    assert.equal((await call(gw, "/write", { authorization: `Bearer ${writer}` })).status, 200);
  });

  test("wrong secret, malformed and oversized keys get a 401 with the ApiKey challenge", async () => {
    const wrongSecret = `${reader.slice(0, 20)}${reader[20] === "a" ? "b" : "a"}${reader.slice(21)}`;
    for (const key of [wrongSecret, "bwk_nonsense", "x".repeat(10_000)]) {
      const result = await call(gw, "/orders", { "x-api-key": key });
      assert.equal(result.status, 401);
      assert.equal(result.headers["www-authenticate"], 'ApiKey realm="bulwark", error="invalid_key"');
      assert.equal((JSON.parse(result.text) as { code: string }).code, "unauthorized");
    }
  });

  test("a key without the route's scopes is a 403, by auth.apiKey.scopes and by authorize", async () => {
    assert.equal((await call(gw, "/write", { authorization: `Bearer ${reader}` })).status, 403);
    const noScope = await createKey(store, pepperFrom(PEPPER), { name: "none", scopes: [], expiresAt: null });
    await eventually(async () => (await call(gw, "/orders", { "x-api-key": noScope.key })).status !== 401);
    const result = await call(gw, "/orders", { "x-api-key": noScope.key });
    assert.equal(result.status, 403);
    assert.equal((JSON.parse(result.text) as { code: string }).code, "forbidden");
  });

  test("a revoked key is refused without a restart, and no key ever reaches the logs", async () => {
    const issued = await createKey(store, pepperFrom(PEPPER), {
      name: "temp",
      scopes: ["orders:read"],
      expiresAt: null,
    });
    await eventually(async () => (await call(gw, "/orders", { "x-api-key": issued.key })).status === 200);
    await revokeKey(store, issued.record.id);
    await eventually(async () => (await call(gw, "/orders", { "x-api-key": issued.key })).status === 401);
    const logs = gw.logText();
    for (const key of [reader, writer, issued.key])
      assert.ok(!logs.includes(key.slice(17)), "a key secret was logged");
  });
});

describe("API keys in the gateway (Redis store going away)", () => {
  let redis: TestRedis;
  let upstream: TestUpstream;

  before(async () => {
    [redis, upstream] = await Promise.all([startRedis(), startUpstream()]);
  });
  after(async () => {
    await Promise.all([redis.close(), upstream.close()]);
  });

  test("an unknown key gets a 503 while the store is down; a cached key keeps working", async () => {
    const storeConfig = { type: "redis" as const, url: redis.url, keyPrefix: "gwtest", timeout: 300 };
    const admin = new RedisKeyStore({ url: redis.url, keyPrefix: "gwtest", timeout: 1000 });
    const known = await createKey(admin, pepperFrom(PEPPER), { name: "k", scopes: [], expiresAt: null });
    const other = await createKey(admin, pepperFrom(PEPPER), { name: "o", scopes: [], expiresAt: null });
    await admin.close();
    const gw = await startGateway(
      {
        server: { apiKeys: { pepper: "${env:PEPPER}", store: storeConfig } },
        upstreams: { app: { targets: [upstream.url] } },
        routes: [{ upstream: "app", auth: { apiKey: {} } }],
      },
      { env: { PEPPER } },
    );
    try {
      await gw.waitReady();
      assert.equal((await call(gw, "/", { "x-api-key": known.key })).status, 200);
      await redis.kill();
      const down = await call(gw, "/", { "x-api-key": other.key });
      assert.equal(down.status, 503);
      assert.equal((JSON.parse(down.text) as { code: string }).code, "api_key_store_unavailable");
      assert.equal((await call(gw, "/", { "x-api-key": known.key })).status, 200);
    } finally {
      await redis.start();
      await gw.stop();
    }
  });
});
