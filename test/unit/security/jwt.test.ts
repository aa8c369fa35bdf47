/**
 * Bearer-token logic without HTTP in front: token extraction, claim paths, the size limit, and the
 * key cache's refetch rules against a small JWKS server on loopback.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { ConfigError, validateConfig } from "../../../src/config/load.js";
import { JwksCache } from "../../../src/security/jwt/jwks-cache.js";
import { bearerToken, claimAt, MAX_TOKEN_LENGTH, verifyJwt } from "../../../src/security/jwt/verify.js";

describe("bearerToken", () => {
  test("takes the token from a Bearer header, case-insensitively", () => {
    assert.equal(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
    assert.equal(bearerToken("bearer   abc"), "abc");
    assert.equal(bearerToken("Basic dXNlcg=="), null);
    assert.equal(bearerToken("Bearer "), null);
    assert.equal(bearerToken(undefined), null);
    assert.equal(bearerToken(["Bearer a", "Bearer b"]), null);
  });
});

describe("claimAt", () => {
  test("follows dotted paths through own properties only", () => {
    const claims = { realm_access: { roles: ["a"] }, sub: "x" };
    assert.deepEqual(claimAt(claims, ["realm_access", "roles"]), ["a"]);
    assert.equal(claimAt(claims, ["sub"]), "x");
    assert.equal(claimAt(claims, ["missing", "roles"]), undefined);
    assert.equal(claimAt(claims, ["sub", "length"]), undefined);
    assert.equal(claimAt(claims, ["constructor"]), undefined);
  });
});

describe("JwksCache and verifyJwt", () => {
  let server: Server;
  let url: string;
  let jwks: { keys: JWK[] } = { keys: [] };
  let fetches = 0;
  let privateKey: CryptoKey;
  const issuer = "https://idp.example.test";

  before(async () => {
    const pair = await generateKeyPair("ES256");
    privateKey = pair.privateKey;
    jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] };
    server = createServer((_req, res) => {
      fetches++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });

  after(() => server.close());

  const policy = { issuer, audience: "api", algorithms: ["ES256"], clockSkew: 30_000, requiredClaims: [] };
  const sign = (kid: string, key = privateKey) =>
    new SignJWT({ iss: issuer, aud: "api", sub: "u" })
      .setProtectedHeader({ alg: "ES256", kid })
      .setExpirationTime("5m")
      .sign(key);

  test("an unknown kid refetches the keys at most once per cooldown", async () => {
    const cache = new JwksCache({
      issuer,
      jwksUri: url,
      refreshInterval: 3_600_000,
      unknownKidCooldown: 60_000,
    });
    try {
      assert.equal(await cache.refresh(), true);
      assert.equal(cache.loaded, true);
      const before = fetches;
      assert.equal((await verifyJwt(await sign("k1"), policy, cache)).ok, true);
      assert.equal(fetches, before);
      for (let index = 0; index < 5; index++) {
        const result = await verifyJwt(await sign(`unknown-${index}`), policy, cache);
        assert.equal(result.ok, false);
      }
      assert.equal(fetches, before + 1);
    } finally {
      cache.stop();
    }
  });

  test("a rotated-in key is found by the unknown-kid refetch", async () => {
    const cache = new JwksCache({ issuer, jwksUri: url, refreshInterval: 3_600_000 });
    try {
      await cache.refresh();
      const next = await generateKeyPair("ES256");
      jwks = { keys: [...jwks.keys, { ...(await exportJWK(next.publicKey)), kid: "k2", alg: "ES256" }] };
      const result = await verifyJwt(await sign("k2", next.privateKey), policy, cache);
      assert.equal(result.ok, true);
    } finally {
      cache.stop();
    }
  });

  test("a token over the size limit is refused without touching the keys", async () => {
    const cache = new JwksCache({ issuer, jwksUri: url, refreshInterval: 3_600_000 });
    const result = await verifyJwt("a".repeat(MAX_TOKEN_LENGTH + 1), policy, cache);
    assert.deepEqual(result, { ok: false, reason: `token longer than ${MAX_TOKEN_LENGTH} bytes` });
  });

  test("without loaded keys every token is refused", async () => {
    const cache = new JwksCache({ issuer, jwksUri: "http://127.0.0.1:1/jwks", refreshInterval: 3_600_000 });
    assert.equal(await cache.refresh(), false);
    cache.stop();
    assert.equal(cache.loaded, false);
    assert.equal((await verifyJwt(await sign("k1"), policy, cache)).ok, false);
  });
});

describe("auth config", () => {
  const withJwt = (jwt: Record<string, unknown>) => ({
    upstreams: { app: { targets: ["http://127.0.0.1:3000"] } },
    routes: [{ upstream: "app", auth: { jwt: { audience: "api", ...jwt } } }],
  });
  const problems = (jwt: Record<string, unknown>): string[] => {
    try {
      validateConfig(withJwt(jwt), { source: "test", baseDir: "/", env: {} });
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems.map((problem) => problem.path);
    }
  };

  test("defaults: RS256 and ES256, 30 s of skew, enforced", () => {
    const config = validateConfig(withJwt({ issuer: "https://idp.example.com/realms/main" }), {
      source: "test",
      baseDir: "/",
      env: {},
    });
    const auth = config.routes[0]!.auth!;
    assert.deepEqual(auth.jwt?.algorithms, ["RS256", "ES256"]);
    assert.equal(auth.jwt?.clockSkew, 30_000);
    assert.equal(auth.enforce, true);
  });

  test("none and HS* cannot be configured", () => {
    for (const alg of ["none", "HS256", "HS512"]) {
      assert.deepEqual(problems({ issuer: "https://idp.example.com", algorithms: [alg] }), [
        "routes[0].auth.jwt.algorithms[0]",
      ]);
    }
  });

  test("keys come over https, or http on loopback only", () => {
    assert.deepEqual(problems({ issuer: "http://idp.example.com" }), ["routes[0].auth.jwt.issuer"]);
    assert.deepEqual(problems({ issuer: "https://idp.example.com", jwksUri: "http://10.0.0.1/jwks" }), [
      "routes[0].auth.jwt.jwksUri",
    ]);
    assert.deepEqual(problems({ issuer: "http://127.0.0.1:8080" }), []);
  });
});
