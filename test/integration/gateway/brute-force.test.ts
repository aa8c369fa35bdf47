/**
 * Brute-force protection through a real gateway: upstream 401s on a sign-in route lock the
 * account and the client address out progressively, gateway token refusals lock the address out,
 * a spoofed X-Forwarded-For does not escape, and the lock-out is a 429 problem with Retry-After.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startOidcProvider, type TestOidcProvider } from "../../support/oidc.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

async function get(gw: TestGateway, path: string, headers: Record<string, string> = {}) {
  const response = await request(`${gw.url}${path}`, { headers });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

const basic = (user: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:wrong`).toString("base64")}`,
});

async function settle(): Promise<void> {
  // Failures are counted after the response, off the request path.
  await new Promise((resolve) => setTimeout(resolve, 50));
}

describe("brute-force protection", () => {
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    [idp, upstream] = await Promise.all([startOidcProvider(), startUpstream()]);
    gw = await startGateway({
      server: {
        bruteForce: {
          maxFailures: 3,
          maxCredentialFailures: 3,
          window: "1m",
          lockout: "2s",
          maxLockout: "1m",
        },
      },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        // /status/401 makes the upstream refuse, as a sign-in endpoint does for a wrong password.
        { name: "login", match: { pathPrefix: "/status/401" }, upstream: "app", loginEndpoint: true },
        {
          name: "login-by-header",
          match: { pathPrefix: "/status/403" },
          upstream: "app",
          loginEndpoint: { account: { header: "X-Login" } },
        },
        {
          name: "ok-login",
          match: { pathPrefix: "/echo" },
          upstream: "app",
          loginEndpoint: { account: { query: "user" } },
        },
        {
          name: "api",
          match: { pathPrefix: "/api" },
          upstream: "app",
          auth: { jwt: { issuer: idp.issuer, audience: "api" } },
        },
      ],
    });
    await gw.waitReady();
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    await idp.close();
  });

  test("repeated upstream 401s lock the account out with a 429 problem and Retry-After", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(gw, "/status/401", basic("alice"))).status, 401);
    await settle();
    const locked = await get(gw, "/status/401", basic("ALICE"));
    assert.equal(locked.status, 429);
    assert.equal(locked.headers["retry-after"], "2");
    const body = JSON.parse(locked.text) as Record<string, unknown>;
    assert.equal(body.code, "locked_out");
    assert.doesNotMatch(locked.text, /alice/i);
    assert.ok(
      gw.logs().some((line) => line.msg === "client locked out after repeated failed authentications"),
    );
    const metrics = await request(`${gw.adminUrl}/metrics`);
    assert.match(await metrics.body.text(), /bulwark_lockouts_total\{route="login",kind="account"\} 1/);
  });

  test("the client address is locked too: another account from it is refused; a lock-out ends", async () => {
    // The address counted alice's three failures above.
    assert.equal((await get(gw, "/status/403", { "x-login": "bob" })).status, 429);
    // A spoofed X-Forwarded-For changes nothing: the peer is not a trusted proxy.
    assert.equal(
      (await get(gw, "/status/403", { "x-login": "bob", "x-forwarded-for": "203.0.113.9" })).status,
      429,
    );
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal((await get(gw, "/status/403", { "x-login": "bob" })).status, 403);
  });

  test("gateway token refusals lock the address out of authenticated routes, counted apart", async () => {
    const token = await idp.sign({ sub: "u" });
    // The sign-in failures above do not count here: an API client is not guessing passwords.
    assert.equal((await get(gw, "/api", { authorization: `Bearer ${token}` })).status, 200);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await get(gw, "/api", { authorization: "Bearer a.b.c" })).status);
      await settle();
    }
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    // Locked: even a valid token is refused until the lock-out ends.
    assert.equal((await get(gw, "/api", { authorization: `Bearer ${token}` })).status, 429);
  });
});
