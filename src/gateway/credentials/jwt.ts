/**
 * Bearer JWTs (issue 3 §3) from `Authorization: Bearer`, verified against the route's issuer.
 * A token verified recently is answered from a per-route cache without a promise; a revoked
 * `jti` is refused even from the cache.
 */

import type { AuthConfig } from "../../config/schema.js";
import { looksLikeApiKey } from "../../security/api-keys/presented-key.js";
import type { JwtKeyRegistry } from "../../security/jwt/key-registry.js";
import { VerifiedTokenCache } from "../../security/jwt/token-cache.js";
import { bearerToken, type JwtPolicy, verifyJwt } from "../../security/jwt/verify.js";
import type { TokenDenyList } from "../../security/revocation/deny-list.js";
import type { Attempt, CredentialMethod } from "./credential.js";

// RFC 6750 §3: a request without a token gets the challenge without an error code; a bad token
// gets error="invalid_token". Neither says more.
const CHALLENGE = {
  missing: 'Bearer realm="bulwark"',
  invalid: 'Bearer realm="bulwark", error="invalid_token"',
};

export function jwtMethod(
  jwt: NonNullable<AuthConfig["jwt"]>,
  registry: JwtKeyRegistry,
  denyList: TokenDenyList | undefined,
): CredentialMethod {
  const keys = registry.keysFor({
    issuer: jwt.issuer,
    jwksUri: jwt.jwksUri,
    refreshInterval: jwt.refreshInterval,
  });
  const policy: JwtPolicy = {
    issuer: jwt.issuer,
    audience: jwt.audience,
    algorithms: jwt.algorithms,
    clockSkew: jwt.clockSkew,
    requiredClaims: jwt.requiredClaims,
  };
  // Per route and per config: a reload (new policy, new keys) starts with an empty cache.
  const verified = new VerifiedTokenCache(10_000, 60_000, policy.clockSkew);

  // Revocation is checked after the cache too: a token revoked a moment ago is refused at once.
  function accepted(subject: string, claims: Readonly<Record<string, unknown>>): Attempt {
    if (denyList && typeof claims.jti === "string" && denyList.isRevoked(claims.jti)) {
      return { ok: false, reason: "token revoked (jti on the deny-list)" };
    }
    return { ok: true, identity: { subject, claims, method: "jwt" } };
  }

  return {
    name: "jwt",
    challenge: CHALLENGE,
    authenticate: function authenticateBearer(ctx) {
      const token = bearerToken(ctx.req.headers.authorization);
      // `Bearer bwk_…` is an API key: the api-key method takes it.
      if (token === null || looksLikeApiKey(token)) return undefined;
      const cacheKey = VerifiedTokenCache.keyOf(token);
      const cached = verified.get(cacheKey);
      if (cached) return accepted(cached.subject, cached.claims);
      return verifyJwt(token, policy, keys).then((result): Attempt => {
        if (!result.ok) return result;
        verified.set(cacheKey, { subject: result.subject, claims: result.claims });
        return accepted(result.subject, result.claims);
      });
    },
  };
}
