/**
 * Security headers and CORS as a client sees them through the gateway.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

describe("headers and CORS through the gateway", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        {
          name: "web",
          upstream: "app",
          headers: { profile: "webapp", keepUpstream: ["content-security-policy"] },
        },
        {
          name: "api",
          match: { pathPrefix: "/api" },
          upstream: "app",
          stripPrefix: true,
          headers: { profile: "api", set: { "x-frame-options": null, "x-team": "payments" } },
          cors: {
            origins: ["https://app.example.com", "https://*.example.org"],
            credentials: true,
            methods: ["GET", "PUT"],
            allowHeaders: ["x-csrf"],
          },
        },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test("banners are removed and the profile's headers added; keepUpstream keeps the app's CSP", async () => {
    const response = await request(`${gw.url}/banner`);
    await response.body.dump();
    for (const banner of ["server", "x-powered-by", "x-aspnet-version"])
      assert.equal(response.headers[banner], undefined, banner);
    assert.equal(response.headers["x-content-type-options"], "nosniff");
    assert.equal(response.headers["x-frame-options"], "SAMEORIGIN");
    assert.equal(
      response.headers["content-security-policy"],
      "default-src *",
      "the upstream's CSP wins when kept",
    );
    assert.equal(response.headers["strict-transport-security"], undefined, "no HSTS over plaintext");
  });

  test("per-route set and removal", async () => {
    const response = await request(`${gw.url}/api/x`);
    await response.body.dump();
    assert.equal(response.headers["x-team"], "payments");
    assert.equal(response.headers["x-frame-options"], undefined);
    assert.match(String(response.headers["content-security-policy"]), /default-src 'none'/);
    assert.equal(response.headers["cache-control"], "no-store");
  });

  test("a preflight is answered at the gateway without reaching the upstream", async () => {
    const seen = upstream.seen.length;
    const response = await request(`${gw.url}/api/items`, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example.org",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "x-csrf",
      },
    });
    await response.body.dump();
    assert.equal(response.statusCode, 204);
    assert.equal(response.headers["access-control-allow-origin"], "https://shop.example.org");
    assert.equal(response.headers["access-control-allow-credentials"], "true");
    assert.match(String(response.headers["access-control-allow-methods"]), /PUT/);
    assert.match(String(response.headers.vary), /Origin/i);
    assert.equal(upstream.seen.length, seen);
  });

  test("a disallowed preflight gets 403 problem+json and no CORS headers", async () => {
    const response = await request(`${gw.url}/api/items`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "PUT" },
    });
    assert.equal(response.statusCode, 403);
    assert.equal(((await response.body.json()) as { code: string }).code, "cors_rejected");
    assert.equal(response.headers["access-control-allow-origin"], undefined);
  });

  test("an arbitrary origin is never reflected on actual requests", async () => {
    const allowed = await request(`${gw.url}/api/x`, { headers: { origin: "https://app.example.com" } });
    await allowed.body.dump();
    assert.equal(allowed.headers["access-control-allow-origin"], "https://app.example.com");
    const denied = await request(`${gw.url}/api/x`, { headers: { origin: "https://attacker.test" } });
    await denied.body.dump();
    assert.equal(denied.headers["access-control-allow-origin"], undefined);
    assert.match(String(denied.headers.vary), /Origin/i);
  });
});
