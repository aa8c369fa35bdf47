/**
 * Rate limiting end to end with the memory store: a real gateway in front of a real upstream.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

describe("rate limiting (memory store)", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        { name: "open", upstream: "app" },
        {
          name: "login",
          match: { pathPrefix: "/login" },
          upstream: "app",
          rateLimit: [{ name: "per-ip", key: "ip", limit: 3, per: "1m" }],
        },
        {
          name: "shadow",
          match: { pathPrefix: "/shadow" },
          upstream: "app",
          rateLimit: [{ name: "trial", limit: 1, per: "1m", enforce: false }],
        },
        {
          name: "keyed",
          match: { pathPrefix: "/keyed" },
          upstream: "app",
          rateLimit: [
            { name: "per-key", key: "header:x-api-key", limit: 1, per: "1h" },
            { name: "per-ip", key: ["ip", "subject"], limit: 100, per: "1h", burst: 5 },
          ],
        },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test("over the limit: 429 problem+json with Retry-After and the RateLimit headers", async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await request(`${gw.url}/login`);
      await ok.body.text();
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.headers["ratelimit-policy"], '"per-ip";q=3;w=60');
      assert.match(String(ok.headers.ratelimit), new RegExp(`^"per-ip";r=${2 - i};t=\\d+$`));
    }
    const seenBefore = upstream.seen.length;
    const limited = await request(`${gw.url}/login`);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.headers["content-type"], "application/problem+json");
    const problem = (await limited.body.json()) as Record<string, unknown>;
    assert.equal(problem.code, "rate_limited");
    assert.equal(problem.status, 429);
    assert.equal(typeof problem.requestId === "string" || typeof problem.instance === "string", true);
    assert.equal(limited.headers["retry-after"], "20", "one request every 20 s");
    assert.equal(limited.headers["ratelimit-policy"], '"per-ip";q=3;w=60');
    assert.equal(limited.headers.ratelimit, '"per-ip";r=0;t=20');
    assert.equal(upstream.seen.length, seenBefore, "the upstream never saw the limited request");
    const other = await request(`${gw.url}/elsewhere`);
    await other.body.text();
    assert.equal(other.statusCode, 200, "other routes are not limited");
    assert.equal(other.headers.ratelimit, undefined);
  });

  test("a spoofed X-Forwarded-For from an untrusted peer does not evade an IP limit", async () => {
    for (let i = 0; i < 5; i++) {
      const response = await request(`${gw.url}/login`, {
        headers: {
          "x-forwarded-for": `203.0.113.${i}`,
          forwarded: `for=203.0.113.${i}`,
          "x-real-ip": "1.1.1.1",
        },
      });
      await response.body.text();
      assert.equal(response.statusCode, 429, `spoof ${i}`);
    }
  });

  test("enforce: false lets requests through and counts and logs what it would limit", async () => {
    for (let i = 0; i < 3; i++) {
      const response = await request(`${gw.url}/shadow`);
      await response.body.text();
      assert.equal(response.statusCode, 200);
    }
    const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text();
    assert.match(metrics, /bulwark_rate_limited_total\{route="shadow",rule="trial",mode="shadow"\} 2/);
    assert.match(metrics, /bulwark_rate_limited_total\{route="login",rule="per-ip",mode="enforced"\} 6/);
    const shadowLogs = gw
      .logs()
      .filter((line) => line.msg === "rate limit exceeded (shadow mode, let through)");
    assert.equal(shadowLogs.length, 2);
    assert.equal(shadowLogs[0]!.rule, "trial");
  });

  test("a header key counts each value apart; several rules report together", async () => {
    const send = async (key?: string) => {
      const response = await request(`${gw.url}/keyed`, { headers: key ? { "x-api-key": key } : {} });
      await response.body.text();
      return response;
    };
    const first = await send("alpha");
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers["ratelimit-policy"], '"per-key";q=1;w=3600, "per-ip";q=100;w=3600');
    assert.match(String(first.headers.ratelimit), /^"per-key";r=0;t=3600, "per-ip";r=104;t=36$/);
    assert.equal((await send("alpha")).statusCode, 429);
    assert.equal((await send("beta")).statusCode, 200);
  });
});

describe("rate limiting: global ceiling", () => {
  test("a ceiling rule is counted once across routes and cannot be turned off by a route", async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({
      server: { rateLimitCeiling: [{ name: "ceiling", key: "ip", limit: 4, per: "1m" }] },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        {
          name: "a",
          match: { pathPrefix: "/a" },
          upstream: "app",
          rateLimit: [{ name: "own", limit: 100, per: "1m" }],
        },
        { name: "b", match: { pathPrefix: "/b" }, upstream: "app", rateLimit: false },
      ],
    });
    try {
      const statuses: number[] = [];
      for (const path of ["/a", "/b", "/a", "/b", "/a", "/b"]) {
        const response = await request(`${gw.url}${path}`);
        await response.body.dump();
        statuses.push(response.statusCode);
        if (path === "/b" && statuses.length === 2) {
          assert.equal(response.headers["ratelimit-policy"], '"ceiling";q=4;w=60');
        }
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
});
