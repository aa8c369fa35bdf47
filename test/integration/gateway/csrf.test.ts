/**
 * CSRF protection of session-authenticated unsafe requests, against a real provider, gateway and
 * upstream. The route takes sessions and bearer tokens, to show that bearer requests are exempt.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { HttpBrowser, type SignInStack, startSignInStack } from "../../support/browser.js";

const HOST = "127.0.0.1";

describe("csrf", () => {
  let stack: SignInStack;
  let cookie: string;
  let token: string;

  async function post(headers: Record<string, string>, path = "/echo") {
    const response = await request(`${stack.url()}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: '{"amount":100}',
    });
    const text = await response.body.text();
    return {
      status: response.statusCode,
      text,
      code: response.statusCode === 200 ? undefined : JSON.parse(text).code,
    };
  }

  before(async () => {
    stack = await startSignInStack({
      auth: (issuer) => ({ jwt: { issuer, audience: "api" } }),
      session: { csrf: { trustedOrigins: ["https://admin.example.test"] } },
    });
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    cookie = browser.cookieHeader(HOST)!;
    token = browser.cookie(HOST, "__Host-bulwark-csrf")!;
    assert.ok(token);
    // Bearer keys are loaded in the background; wait until the gateway says it is ready.
    for (let i = 0; i < 150; i++) {
      const ready = await request(`${stack.gateways[0]!.adminUrl}/ready`);
      await ready.body.dump();
      if (ready.statusCode === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  after(async () => {
    await stack?.close();
  });

  test("a same-origin POST with the session's token reaches the upstream", async () => {
    const seen = stack.upstream.seen.length;
    const result = await post({
      cookie,
      origin: stack.url(),
      "sec-fetch-site": "same-origin",
      "x-csrf-token": token,
    });
    assert.equal(result.status, 200, result.text);
    assert.equal(stack.upstream.seen.length, seen + 1);
    assert.equal(JSON.parse(result.text).headers["x-user"], "alice");
  });

  test("an old browser without Origin or Sec-Fetch-Site still needs the token", async () => {
    assert.equal((await post({ cookie, "x-csrf-token": token })).status, 200);
    assert.equal((await post({ cookie })).code, "csrf_token_missing");
  });

  test("a missing or wrong token is refused with 403 and its code; nothing reaches the upstream", async () => {
    const seen = stack.upstream.seen.length;
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const response = await request(`${stack.url()}/echo`, {
        method,
        headers: { cookie, origin: stack.url() },
      });
      const body = JSON.parse(await response.body.text());
      assert.equal(response.statusCode, 403, method);
      assert.equal(response.headers["content-type"], "application/problem+json");
      assert.equal(body.code, "csrf_token_missing", method);
    }
    const wrong = await post({ cookie, origin: stack.url(), "x-csrf-token": "A".repeat(43) });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.code, "csrf_token_invalid");
    // Another session's token does not work either (the token is bound to the session).
    const other = new HttpBrowser();
    await other.signIn(`${stack.url()}/echo`, "bob");
    const otherToken = other.cookie(HOST, "__Host-bulwark-csrf")!;
    assert.notEqual(otherToken, token);
    assert.equal(
      (await post({ cookie, origin: stack.url(), "x-csrf-token": otherToken })).code,
      "csrf_token_invalid",
    );
    assert.equal(stack.upstream.seen.length, seen + 1, "only bob's sign-in navigation reached the upstream");
  });

  test("a cross-site Origin is refused even with the right token; a trusted origin passes", async () => {
    for (const origin of ["https://evil.example", `${stack.url()}.evil.example`]) {
      const result = await post({ cookie, origin, "x-csrf-token": token });
      assert.equal(result.status, 403, origin);
      assert.equal(result.code, "csrf_origin_rejected");
    }
    // "null" (a sandboxed or data: document elsewhere) is judged by Sec-Fetch-Site, then the token.
    for (const site of ["cross-site", "same-site"]) {
      const result = await post({ cookie, origin: "null", "sec-fetch-site": site, "x-csrf-token": token });
      assert.equal(result.status, 403, site);
      assert.equal(result.code, "csrf_origin_rejected");
    }
    assert.equal(
      (await post({ cookie, origin: "null", "sec-fetch-site": "cross-site" })).code,
      "csrf_origin_rejected",
    );
    assert.equal((await post({ cookie, origin: "null" })).code, "csrf_token_missing");
    const trusted = await post({ cookie, origin: "https://admin.example.test", "x-csrf-token": token });
    assert.equal(trusted.status, 200);
  });

  test("Origin: null from the site's own page (a form under Referrer-Policy: no-referrer) passes with the token", async () => {
    const result = await post({
      cookie,
      origin: "null",
      "sec-fetch-site": "same-origin",
      "x-csrf-token": token,
    });
    assert.equal(result.status, 200);
    const forged = await post({
      cookie,
      origin: "null",
      "sec-fetch-site": "same-origin",
      "x-csrf-token": "x",
    });
    assert.equal(forged.code, "csrf_token_invalid");
  });

  test("Sec-Fetch-Site cross-site or same-site (without Origin) is refused", async () => {
    for (const site of ["cross-site", "same-site"]) {
      const result = await post({ cookie, "sec-fetch-site": site, "x-csrf-token": token });
      assert.equal(result.status, 403, site);
      assert.equal(result.code, "csrf_origin_rejected");
    }
  });

  test("safe methods are not checked", async () => {
    const response = await request(`${stack.url()}/echo`, {
      headers: { cookie, origin: "https://evil.example" },
    });
    await response.body.dump();
    assert.equal(response.statusCode, 200);
  });

  test("bearer-token requests are not subject to CSRF", async () => {
    const jwt = await stack.idp.sign({ sub: "service-1" });
    const result = await post({ authorization: `Bearer ${jwt}`, origin: "https://evil.example" });
    assert.equal(result.status, 200, result.text);
    assert.equal(JSON.parse(result.text).headers["x-user"], "service-1");
  });
});

describe("csrf in shadow mode", () => {
  let stack: SignInStack;

  before(async () => {
    stack = await startSignInStack({ session: { csrf: { enforce: false } } });
  });

  after(async () => {
    await stack?.close();
  });

  test("csrf.enforce: false lets a forged request through and logs what it would refuse", async () => {
    const browser = new HttpBrowser();
    await browser.signIn(`${stack.url()}/echo`, "alice");
    const response = await request(`${stack.url()}/echo`, {
      method: "POST",
      headers: { cookie: browser.cookieHeader(HOST)!, origin: "https://evil.example" },
      body: "x",
    });
    const text = await response.body.text();
    assert.equal(response.statusCode, 200, text);
    assert.equal(JSON.parse(text).headers["x-user"], "alice");
    const line = stack.gateways[0]!.logs().find(
      (entry) => entry.msg === "csrf check would refuse the request (shadow mode)",
    );
    assert.ok(line, "a log line says what would have been refused");
    assert.equal(line.reason, "origin not allowed");
  });
});
