/**
 * Authorization decisions on claims: roles/scopes/groups from configured paths (Keycloak shapes),
 * all-of and any-of, tenant isolation by path segment and header, step-up on acr/amr/auth_time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compileAuthorization, type RequestFacts } from "../../../src/security/authorization/policy.js";
import { type AuthorizeConfig, authorizeSchema } from "../../../src/security/authorization/schema.js";

const policy = (input: unknown) => compileAuthorization(authorizeSchema.parse(input) as AuthorizeConfig);
const request = (path = "/", headers: Record<string, string> = {}): RequestFacts => ({
  path,
  header: (name) => headers[name],
});
const NOW = Date.parse("2026-11-26T12:00:00Z");

const keycloak = {
  sub: "u1",
  realm_access: { roles: ["clinician", "offline_access"] },
  resource_access: { api: { roles: ["reader"] } },
  scope: "openid profile patients:read",
  groups: ["/ward-a"],
  tenant: "acme",
};

describe("authorization policy", () => {
  test("realm roles are read from Keycloak's realm_access.roles by default; a list needs all", () => {
    assert.deepEqual(policy({ roles: ["clinician"] }).evaluate(keycloak, request(), NOW), { allowed: true });
    const denied = policy({ roles: ["clinician", "admin"] }).evaluate(keycloak, request(), NOW);
    assert.deepEqual(denied, { allowed: false, kind: "forbidden", reason: "roles missing" });
  });

  test("anyOf needs one; client roles come from a configured resource_access path", () => {
    assert.equal(
      policy({ roles: { anyOf: ["admin", "clinician"] } }).evaluate(keycloak, request(), NOW).allowed,
      true,
    );
    assert.equal(policy({ roles: ["reader"] }).evaluate(keycloak, request(), NOW).allowed, false);
    const clientRoles = policy({ roles: ["reader"], claims: { roles: ["resource_access.api.roles"] } });
    assert.equal(clientRoles.evaluate(keycloak, request(), NOW).allowed, true);
  });

  test("scopes: a space-separated scope string or an scp list", () => {
    assert.equal(policy({ scopes: ["patients:read"] }).evaluate(keycloak, request(), NOW).allowed, true);
    assert.equal(policy({ scopes: ["patients:write"] }).evaluate(keycloak, request(), NOW).allowed, false);
    assert.equal(policy({ scopes: ["a", "b"] }).evaluate({ scp: ["a", "b"] }, request(), NOW).allowed, true);
    // A scope that is only a prefix of a granted one is not granted.
    assert.equal(policy({ scopes: ["patients"] }).evaluate(keycloak, request(), NOW).allowed, false);
  });

  test("groups, and claims of the wrong type never grant", () => {
    assert.equal(policy({ groups: ["/ward-a"] }).evaluate(keycloak, request(), NOW).allowed, true);
    for (const groups of [{ "/ward-a": true }, 1, null, [1, 2]]) {
      assert.equal(policy({ groups: ["/ward-a"] }).evaluate({ groups }, request(), NOW).allowed, false);
    }
  });

  test("tenant from a path segment must equal the claim (a string or a list)", () => {
    const byPath = policy({ tenant: { claim: "tenant", pathSegment: 2 } });
    assert.equal(byPath.evaluate(keycloak, request("/api/patients/acme/42"), NOW).allowed, true);
    assert.deepEqual(byPath.evaluate(keycloak, request("/api/patients/globex/42"), NOW), {
      allowed: false,
      kind: "forbidden",
      reason: "tenant mismatch",
    });
    assert.equal(byPath.evaluate(keycloak, request("/api/patients"), NOW).allowed, false);
    assert.equal(byPath.evaluate(keycloak, request("/api/patients/"), NOW).allowed, false);
    assert.equal(
      byPath.evaluate({ tenant: ["globex", "acme"] }, request("/api/patients/acme"), NOW).allowed,
      true,
    );
    assert.equal(byPath.evaluate({ sub: "x" }, request("/api/patients/acme"), NOW).allowed, false);
  });

  test("tenant from a header", () => {
    const byHeader = policy({ tenant: { claim: "tenant", header: "X-Tenant" } });
    assert.equal(byHeader.evaluate(keycloak, request("/", { "x-tenant": "acme" }), NOW).allowed, true);
    assert.equal(byHeader.evaluate(keycloak, request("/", { "x-tenant": "globex" }), NOW).allowed, false);
    assert.equal(byHeader.evaluate(keycloak, request("/"), NOW).allowed, false);
  });

  test("step-up: acr in the accepted list, amr containing one method, a recent auth_time", () => {
    const acr = policy({ stepUp: { acr: ["urn:mfa", "gold"] } });
    assert.equal(acr.acrValues, "urn:mfa gold");
    assert.equal(acr.evaluate({ acr: "gold" }, request(), NOW).allowed, true);
    assert.deepEqual(acr.evaluate({ acr: "1" }, request(), NOW), {
      allowed: false,
      kind: "step-up",
      reason: "acr insufficient",
    });
    const amr = policy({ stepUp: { amr: ["mfa", "otp"] } });
    assert.equal(amr.evaluate({ amr: ["pwd", "otp"] }, request(), NOW).allowed, true);
    assert.equal(amr.evaluate({ amr: ["pwd"] }, request(), NOW).allowed, false);
    assert.equal(amr.evaluate({ amr: "otp" }, request(), NOW).allowed, false);
    const recent = policy({ stepUp: { maxAge: "5m" } });
    assert.equal(recent.maxAgeSeconds, 300);
    assert.equal(recent.evaluate({ auth_time: NOW / 1000 - 60 }, request(), NOW).allowed, true);
    assert.equal(recent.evaluate({ auth_time: NOW / 1000 - 600 }, request(), NOW).allowed, false);
    assert.equal(recent.evaluate({}, request(), NOW).allowed, false);
  });

  test("the schema refuses an empty step-up and malformed claim paths", () => {
    assert.equal(authorizeSchema.safeParse({ stepUp: {} }).success, false);
    assert.equal(authorizeSchema.safeParse({ claims: { roles: ["a..b"] } }).success, false);
    assert.equal(authorizeSchema.safeParse({ roles: [] }).success, false);
    assert.equal(authorizeSchema.safeParse({ tenant: { claim: "t", pathSegment: -1 } }).success, false);
  });
});
