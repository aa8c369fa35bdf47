/**
 * Authorization end to end: tokens from a real OpenID provider, a real gateway, a real upstream.
 * Roles (Keycloak realm and client roles), scopes, tenant isolation by path and header, step-up
 * with the RFC 9470 challenge, and shadow mode.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import WebSocket from "ws";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startOidcProvider, type TestOidcProvider } from "../../support/oidc.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

async function call(gw: TestGateway, path: string, token?: string, headers: Record<string, string> = {}) {
  const response = await request(`${gw.url}${path}`, {
    headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` },
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

describe("authorization", () => {
  let idp: TestOidcProvider;
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    idp = await startOidcProvider();
    upstream = await startUpstream();
    const auth = { jwt: { issuer: idp.issuer, audience: "api" } };
    const route = (name: string, authorize: unknown, extra: Record<string, unknown> = {}) => ({
      name,
      match: { pathPrefix: `/${name}` },
      upstream: "app",
      auth,
      authorize,
      ...extra,
    });
    gw = await startGateway({
      logging: { level: "debug" },
      upstreams: { app: { targets: [upstream.url] } },
      routes: [
        route("clinical", { roles: ["clinician"] }),
        route("client-role", { roles: ["reader"], claims: { roles: ["resource_access.api.roles"] } }),
        route("scoped", { scopes: ["patients:write"] }),
        route("patients", {
          roles: { anyOf: ["clinician", "admin"] },
          tenant: { claim: "tenant", pathSegment: 1 },
        }),
        route("by-header", { tenant: { claim: "tenant", header: "X-Tenant" } }),
        route("mfa", { stepUp: { acr: ["urn:mfa"], maxAge: "10m" } }),
        route("shadow", { roles: ["admin"], enforce: false }),
        // Authentication in shadow mode lets anonymous requests through; authorization still denies them.
        route("anon", { roles: ["clinician"] }, { auth: { ...auth, enforce: false } }),
        route(
          "socket",
          { roles: ["clinician"] },
          { auth: { ...auth, identityHeaders: { "X-User": "sub" } }, rateLimit: [{ limit: 1, per: "1h" }] },
        ),
      ],
    });
    await gw.waitReady();
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    await idp.close();
  });

  test("a required realm role lets the holder through and denies others with a 403 problem", async () => {
    const clinician = await idp.sign({ realm_access: { roles: ["clinician"] } });
    assert.equal((await call(gw, "/clinical/x", clinician)).status, 200);
    const nurse = await idp.sign({ realm_access: { roles: ["nurse"] } });
    const denied = await call(gw, "/clinical/x", nurse);
    assert.equal(denied.status, 403);
    assert.equal(denied.headers["content-type"], "application/problem+json");
    const body = JSON.parse(denied.text) as Record<string, unknown>;
    assert.equal(body.code, "forbidden");
    assert.equal(body.detail, "the credentials do not grant access to this resource");
    assert.doesNotMatch(denied.text, /role|nurse|clinician/);
    assert.ok(
      gw
        .logs()
        .some(
          (line) => line.msg === "access denied" && line.reason === "roles missing" && line.level === "debug",
        ),
    );
  });

  test("client roles from resource_access and scopes from the scope string", async () => {
    const reader = await idp.sign({ resource_access: { api: { roles: ["reader"] }, other: { roles: [] } } });
    assert.equal((await call(gw, "/client-role", reader)).status, 200);
    const realmReader = await idp.sign({ realm_access: { roles: ["reader"] } });
    assert.equal((await call(gw, "/client-role", realmReader)).status, 403);
    assert.equal((await call(gw, "/scoped", await idp.sign({ scope: "openid patients:write" }))).status, 200);
    assert.equal((await call(gw, "/scoped", await idp.sign({ scope: "openid patients:read" }))).status, 403);
  });

  test("tenant isolation: the path's tenant must be the token's", async () => {
    const acme = await idp.sign({ realm_access: { roles: ["admin"] }, tenant: "acme" });
    assert.equal((await call(gw, "/patients/acme/42", acme)).status, 200);
    assert.equal((await call(gw, "/patients/globex/42", acme)).status, 403);
    // Normalization happens first: a dot-segment cannot move the request into another tenant.
    assert.equal((await call(gw, "/patients/acme/../globex/42", acme)).status, 403);
    assert.equal((await call(gw, "/patients", acme)).status, 403);
    const byHeader = await idp.sign({ tenant: "acme" });
    assert.equal((await call(gw, "/by-header", byHeader, { "x-tenant": "acme" })).status, 200);
    assert.equal((await call(gw, "/by-header", byHeader, { "x-tenant": "globex" })).status, 403);
  });

  test("step-up: a weak or stale authentication gets 401 insufficient_user_authentication", async () => {
    const now = Math.floor(Date.now() / 1000);
    const strong = await idp.sign({ acr: "urn:mfa", auth_time: now - 60 });
    assert.equal((await call(gw, "/mfa", strong)).status, 200);
    for (const claims of [
      { acr: "urn:pwd", auth_time: now },
      { acr: "urn:mfa", auth_time: now - 3600 },
    ]) {
      const result = await call(gw, "/mfa", await idp.sign(claims));
      assert.equal(result.status, 401);
      assert.equal(
        result.headers["www-authenticate"],
        'Bearer realm="bulwark", error="insufficient_user_authentication", acr_values="urn:mfa", max_age=600',
      );
      assert.equal((JSON.parse(result.text) as { code: string }).code, "step_up_required");
    }
  });

  test("shadow mode logs the denial and lets the request through", async () => {
    const result = await call(gw, "/shadow", await idp.sign({ realm_access: { roles: ["nurse"] } }));
    assert.equal(result.status, 200);
    assert.ok(gw.logs().some((line) => line.msg === "access would be denied (shadow mode)"));
  });

  test("a request without an identity is denied even when authentication is in shadow mode", async () => {
    assert.equal((await call(gw, "/anon")).status, 403);
    assert.equal((await call(gw, "/anon", "not.a.token")).status, 403);
  });

  test("a WebSocket upgrade goes through authentication, authorization and rate limits", async () => {
    const open = (headers: Record<string, string>) =>
      new Promise<{ status: number; hello?: { headers: Record<string, string> }; challenge?: string }>(
        (resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/socket`, { headers });
          ws.once("unexpected-response", (_req, res) => {
            resolve({
              status: res.statusCode ?? 0,
              challenge: res.headers["www-authenticate"] as string | undefined,
            });
            res.resume();
          });
          ws.once("message", (data) => {
            resolve({ status: 101, hello: JSON.parse(String(data)) });
            ws.close();
          });
          ws.once("error", () => {});
        },
      );
    const anonymous = await open({ "x-user": "mallory" });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.challenge, 'Bearer realm="bulwark"');
    const nurse = await open({
      authorization: `Bearer ${await idp.sign({ realm_access: { roles: ["nurse"] } })}`,
    });
    assert.equal(nurse.status, 403);
    const clinician = await idp.sign({ sub: "dr-who", realm_access: { roles: ["clinician"] } });
    const opened = await open({ authorization: `Bearer ${clinician}`, "x-user": "mallory" });
    assert.equal(opened.status, 101);
    assert.equal(opened.hello?.headers["x-user"], "dr-who", "identity header set, client copy removed");
    // Refused upgrades never reached the limit; the second authorized one is over it.
    assert.equal((await open({ authorization: `Bearer ${clinician}` })).status, 429);
  });
});
