/**
 * Bearer JWTs end to end: a real OpenID provider (oidc-provider) serving discovery and its JWKS,
 * a real gateway, and a real upstream that shows what it received.
 */
import assert from "node:assert/strict";
import { createHmac, createPublicKey } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { generateKeyPair, SignJWT } from "jose";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startOidcProvider, type TestOidcProvider } from "../../support/oidc.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

type Echo = { headers: Record<string, string | undefined> };

const b64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");

async function call(gw: TestGateway, path: string, headers: Record<string, string> = {}) {
  const response = await request(`${gw.url}${path}`, { headers });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** A refusal that names nothing about the token. */
function assertRefused(
  result: { status: number; headers: Record<string, unknown>; text: string },
  invalid = true,
) {
  assert.equal(result.status, 401, result.text);
  assert.equal(result.headers["content-type"], "application/problem+json");
  const body = JSON.parse(result.text) as Record<string, unknown>;
  assert.equal(body.code, "unauthorized");
  assert.equal(body.title, "authentication required");
  assert.equal(body.detail, "valid credentials are required");
  assert.equal(
    result.headers["www-authenticate"],
    invalid ? 'Bearer realm="bulwark", error="invalid_token"' : 'Bearer realm="bulwark"',
  );
  assert.doesNotMatch(result.text, /exp|aud|iss|alg|kid|signature/i);
}

describe("bearer tokens", () => {
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    idp = await startOidcProvider();
    upstream = await startUpstream();
    const jwt = { issuer: idp.issuer, audience: "api" };
    const identityHeaders = { "X-User": "sub", "X-Roles": "realm_access.roles" };
    gw = await startGateway({
      logging: { level: "debug" },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        {
          name: "api",
          match: { pathPrefix: "/api" },
          upstream: "app",
          rewritePrefix: "/echo",
          auth: { jwt, identityHeaders },
        },
        {
          name: "tenant",
          match: { pathPrefix: "/tenant" },
          upstream: "app",
          rewritePrefix: "/echo",
          auth: { jwt: { ...jwt, requiredClaims: ["tenant"] } },
        },
        {
          name: "shadow",
          match: { pathPrefix: "/shadow" },
          upstream: "app",
          rewritePrefix: "/echo",
          auth: { jwt, identityHeaders, enforce: false },
        },
        { name: "open", match: { pathPrefix: "/open" }, upstream: "app", rewritePrefix: "/echo" },
      ],
    });
    await gw.waitReady();
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    await idp.close();
  });

  test("valid RS256 and ES256 tokens pass; the upstream gets the claims, not the client's copies", async () => {
    for (const alg of ["RS256", "ES256"] as const) {
      const token = await idp.sign(
        { sub: `alice-${alg}`, realm_access: { roles: ["clinician", "admin"] } },
        { alg },
      );
      const result = await call(gw, "/api", { ...bearer(token), "x-user": "mallory", "X-Roles": "root" });
      assert.equal(result.status, 200, result.text);
      const echo = JSON.parse(result.text) as Echo;
      assert.equal(echo.headers["x-user"], `alice-${alg}`);
      assert.equal(echo.headers["x-roles"], "clinician,admin");
    }
  });

  test("client-sent identity headers are removed even when the token carries no such claim", async () => {
    const token = await idp.sign({ sub: "bob" });
    const result = await call(gw, "/api", { ...bearer(token), "x-roles": "root" });
    assert.equal(result.status, 200);
    const echo = JSON.parse(result.text) as Echo;
    assert.equal(echo.headers["x-user"], "bob");
    assert.equal(echo.headers["x-roles"], undefined);
  });

  test("exp and nbf within the clock skew are accepted", async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await call(gw, "/api", bearer(await idp.sign({ exp: now - 10 })))).status, 200);
    assert.equal((await call(gw, "/api", bearer(await idp.sign({ nbf: now + 10 })))).status, 200);
  });

  test("a missing token gets the bare challenge", async () => {
    assertRefused(await call(gw, "/api"), false);
    assertRefused(await call(gw, "/api", { authorization: "Basic dXNlcjpwYXNz" }), false);
  });

  test("malformed, expired, early, wrong-audience and wrong-issuer tokens are refused alike", async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      "not-a-jwt",
      "a.b.c",
      `${b64url("{")}.${b64url("{}")}.${b64url("x")}`,
      await idp.sign({ exp: now - 120 }),
      await idp.sign({ nbf: now + 120 }),
      await idp.sign({ aud: "other" }),
      await idp.sign({ iss: "http://127.0.0.1:1" }),
      await idp.sign({ exp: undefined }),
      await idp.sign({ sub: undefined }),
    ];
    for (const token of tokens) assertRefused(await call(gw, "/api", bearer(token)));
    assertRefused(await call(gw, "/tenant", bearer(await idp.sign({}))));
    assert.equal((await call(gw, "/tenant", bearer(await idp.sign({ tenant: "t1" })))).status, 200);
  });

  test("alg none is refused, with or without a signature segment", async () => {
    const payload = b64url(JSON.stringify({ iss: idp.issuer, aud: "api", sub: "eve", exp: 9_999_999_999 }));
    const header = b64url(JSON.stringify({ alg: "none", typ: "JWT" }));
    assertRefused(await call(gw, "/api", bearer(`${header}.${payload}.`)));
    assertRefused(await call(gw, "/api", bearer(`${header}.${payload}.${b64url("x")}`)));
  });

  test("HS256 signed with the issuer's RSA public key (key confusion) is refused", async () => {
    const rsa = idp.publicJwks().find((jwk) => jwk.kty === "RSA")!;
    const pem = createPublicKey({ key: rsa as never, format: "jwk" }).export({ type: "spki", format: "pem" });
    for (const secret of [String(pem), JSON.stringify(rsa)]) {
      const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT", kid: rsa.kid }));
      const payload = b64url(
        JSON.stringify({ iss: idp.issuer, aud: "api", sub: "eve", exp: Math.floor(Date.now() / 1000) + 60 }),
      );
      const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
      assertRefused(await call(gw, "/api", bearer(`${header}.${payload}.${signature}`)));
    }
  });

  test("a token signed by a key the provider does not publish is refused", async () => {
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ iss: idp.issuer, aud: "api", sub: "eve", exp: now + 60 })
      .setProtectedHeader({ alg: "RS256", kid: "attacker" })
      .sign(privateKey);
    assertRefused(await call(gw, "/api", bearer(forged)));
    // Same kid as a real key, wrong key behind it.
    const real = idp.publicJwks().find((jwk) => jwk.kty === "RSA")!;
    const spoofed = await new SignJWT({ iss: idp.issuer, aud: "api", sub: "eve", exp: now + 60 })
      .setProtectedHeader({ alg: "RS256", kid: real.kid! })
      .sign(privateKey);
    assertRefused(await call(gw, "/api", bearer(spoofed)));
  });

  test("an oversized token is refused before parsing", async () => {
    const token = await idp.sign({ padding: "x".repeat(9000) });
    assert.ok(token.length > 8192);
    assertRefused(await call(gw, "/api", bearer(token)));
  });

  test("the refusal reason is logged at debug level only, never the token", async () => {
    const token = await idp.sign({ aud: "other" });
    await call(gw, "/api", bearer(token));
    const lines = gw.logs().filter((line) => line.msg === "credentials refused");
    assert.ok(lines.some((line) => line.level === "debug" && /aud/.test(String(line.reason))));
    assert.ok(!gw.logText().includes(token));
  });

  test("shadow mode lets a bad token through without an identity and logs it", async () => {
    const result = await call(gw, "/shadow", { ...bearer("a.b.c"), "x-user": "mallory" });
    assert.equal(result.status, 200);
    const echo = JSON.parse(result.text) as Echo;
    assert.equal(echo.headers["x-user"], undefined);
    assert.ok(gw.logs().some((line) => line.msg === "credentials would be refused (shadow mode)"));
  });

  test("routes without auth are untouched", async () => {
    const result = await call(gw, "/open", { "x-user": "anyone" });
    assert.equal(result.status, 200);
    assert.equal((JSON.parse(result.text) as Echo).headers["x-user"], "anyone");
  });
});

describe("issuer keys over time", () => {
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    idp = await startOidcProvider();
    await idp.stop();
    upstream = await startUpstream();
    gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        { upstream: "app", rewritePrefix: "/echo", auth: { jwt: { issuer: idp.issuer, audience: "api" } } },
        {
          // A separate key cache that refreshes every 200 ms, to see refreshes fail.
          match: { pathPrefix: "/fast" },
          upstream: "app",
          rewritePrefix: "/echo",
          auth: { jwt: { issuer: idp.issuer, audience: "api", refreshInterval: "200ms" } },
        },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    await idp.close();
  });

  test("/ready is 503 until the issuer's keys are loaded", async () => {
    const response = await request(`${gw.adminUrl}/ready`);
    assert.equal(response.statusCode, 503);
    assert.match(await response.body.text(), /keys of issuer http:\/\/127\.0\.0\.1:\d+ not loaded/);
    assertRefused(await call(gw, "/", bearer(await idp.sign({}))));
    await idp.start();
    await gw.waitReady();
    assert.equal((await call(gw, "/", bearer(await idp.sign({})))).status, 200);
  });

  test("with the provider down, tokens are still verified from the cached keys", async () => {
    await idp.stop();
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.ok(
      gw.logs().some((line) => line.msg === "issuer keys refresh failed; verifying with the cached keys"),
    );
    const result = await call(gw, "/fast", bearer(await idp.sign({}, { alg: "ES256" })));
    assert.equal(result.status, 200, result.text);
    const ready = await request(`${gw.adminUrl}/ready`);
    await ready.body.dump();
    assert.equal(ready.statusCode, 200);
    await idp.start();
  });

  test("after the provider rotates its keys, a token with the new key is accepted", async () => {
    // A claim of its own: RS256 signatures are deterministic, so a token signed with the same
    // claims in the same second by an earlier test would be byte-identical and already cached.
    const old = await idp.sign({ jti: "before-rotation" });
    await idp.rotate();
    const fresh = await idp.sign({ jti: "after-rotation" });
    const result = await call(gw, "/", bearer(fresh));
    assert.equal(result.status, 200, result.text);
    assert.ok(gw.logs().some((line) => line.msg === "unknown key id; refetching the issuer's keys"));
    // The old key is gone from the provider's set once it has been refetched.
    assertRefused(await call(gw, "/", bearer(old)));
  });
});
