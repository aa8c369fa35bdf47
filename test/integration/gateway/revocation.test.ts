/**
 * Token revocation by jti: through the admin API of a real gateway, in memory and shared through
 * a real redis-server between two gateways, and with Redis going away.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startOidcProvider, type TestOidcProvider } from "../../support/oidc.js";
import { startRedis, type TestRedis } from "../../support/redis.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

const ADMIN_TOKEN = "admin-token-0123456789abcdef";

async function status(gw: TestGateway, token: string): Promise<number> {
  const response = await request(`${gw.url}/api`, { headers: { authorization: `Bearer ${token}` } });
  await response.body.dump();
  return response.statusCode;
}

async function admin(gw: TestGateway, method: "GET" | "POST", body?: unknown, token = ADMIN_TOKEN) {
  const response = await request(`${gw.adminUrl}/revocations`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("token revocation", () => {
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let redis: TestRedis;

  before(async () => {
    [idp, upstream, redis] = await Promise.all([startOidcProvider(), startUpstream(), startRedis()]);
  });

  after(async () => {
    await Promise.all([idp.close(), upstream.close(), redis.close()]);
  });

  const config = (tokenRevocation?: unknown) => ({
    admin: { token: ADMIN_TOKEN },
    upstreams: { app: { targets: [upstream.url] } },
    routes: [
      {
        match: { pathPrefix: "/api" },
        upstream: "app",
        auth: { jwt: { issuer: idp.issuer, audience: "api" } },
      },
    ],
    ...(tokenRevocation ? { server: { tokenRevocation } } : {}),
  });

  test("a revoked jti is refused at once, even a token verified a moment before", async () => {
    const gw = await startGateway(config());
    try {
      await gw.waitReady();
      const exp = Math.floor(Date.now() / 1000) + 600;
      const token = await idp.sign({ jti: "token-1", exp });
      const other = await idp.sign({ jti: "token-2", exp });
      assert.equal(await status(gw, token), 200);
      const revoked = await admin(gw, "POST", { jti: "token-1", exp });
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.expiresAt, new Date(exp * 1000).toISOString());
      assert.equal(await status(gw, token), 401);
      assert.equal(await status(gw, other), 200);
      const listed = await admin(gw, "GET");
      assert.deepEqual(listed.body.revocations, [
        { jti: "token-1", expiresAt: new Date(exp * 1000).toISOString() },
      ]);
      assert.ok(gw.logs().some((line) => line.msg === "token revoked" && line.jti === "token-1"));
    } finally {
      await gw.stop();
    }
  });

  test("bad revocation requests get a 400 that says what to send; a wrong admin token a 401", async () => {
    const gw = await startGateway(config());
    try {
      const exp = Math.floor(Date.now() / 1000) + 600;
      for (const [body, message] of [
        ["not json", /not JSON/],
        [{ exp }, /jti must be a non-empty string/],
        [{ jti: "a" }, /expiresAt must be a time/],
        [{ jti: "a", exp: 1 }, /in the past/],
        [{ jti: "a", exp: "soon" }, /expiresAt must be a time/],
        [{ jti: "x".repeat(5000), exp }, /over 4096 bytes/],
      ] as const) {
        const result = await admin(gw, "POST", body);
        assert.equal(result.status, 400, JSON.stringify(body).slice(0, 50));
        assert.match(String(result.body.error), message);
      }
      assert.equal((await admin(gw, "POST", { jti: "a", exp }, "wrong-token-0123456789")).status, 401);
      assert.deepEqual((await admin(gw, "GET")).body.revocations, []);
    } finally {
      await gw.stop();
    }
  });

  test("with Redis, a revocation made on one gateway is enforced by another, and survives their restart", async () => {
    const shared = { type: "redis", url: redis.url, keyPrefix: "bulwark:test1:" };
    const first = await startGateway(config(shared));
    const second = await startGateway(config(shared));
    const exp = Math.floor(Date.now() / 1000) + 600;
    const token = await idp.sign({ jti: "shared-1", exp });
    try {
      await Promise.all([first.waitReady(), second.waitReady()]);
      assert.equal(await status(second, token), 200);
      assert.equal((await admin(first, "POST", { jti: "shared-1", exp })).status, 200);
      // Published on a channel: the other gateway refuses it within moments, not a sync interval.
      await until(async () => (await status(second, token)) === 401, 2000);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
    const restarted = await startGateway(config(shared));
    try {
      await restarted.waitReady();
      assert.equal(await status(restarted, token), 401);
    } finally {
      await restarted.stop();
    }
  });

  test("Redis down: revoked tokens stay refused, a new revocation fails with 503, no crash", async () => {
    const shared = { type: "redis", url: redis.url, keyPrefix: "bulwark:test2:", syncInterval: "200ms" };
    const gw = await startGateway(config(shared));
    const exp = Math.floor(Date.now() / 1000) + 600;
    const token = await idp.sign({ jti: "down-1", exp });
    try {
      await gw.waitReady();
      assert.equal((await admin(gw, "POST", { jti: "down-1", exp })).status, 200);
      await redis.kill();
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(await status(gw, token), 401);
      const failed = await admin(gw, "POST", { jti: "down-2", exp });
      assert.equal(failed.status, 503);
      assert.match(String(failed.body.error), /revocation not stored/);
      assert.ok(
        gw
          .logs()
          .some((line) => line.msg === "token deny-list store unreachable; serving the last known list"),
      );
    } finally {
      await redis.start();
      await gw.stop();
    }
  });
});
