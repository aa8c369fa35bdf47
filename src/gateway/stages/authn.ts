/**
 * Bearer-token authentication (issue 3 §3). A token from `Authorization: Bearer` is verified
 * against the route's issuer; on success the request carries the identity and the configured
 * claims go upstream in the configured headers. Client-sent copies of those headers are removed
 * on every request, verified or not, so the upstream can trust them. Failures get a 401 with
 * `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3) and a fixed detail; the reason
 * is logged at debug level only. With `enforce: false` (shadow mode) failures are logged and the
 * request goes through without an identity.
 */
import { BulwarkError } from "../../errors.js";
import { VerifiedTokenCache } from "../../security/jwt/token-cache.js";
import { bearerToken, claimAt, type JwtPolicy, verifyJwt } from "../../security/jwt/verify.js";
import type { RequestContext } from "../context.js";
import type { Reply, StageFactory } from "../stage.js";

// RFC 6750 §3: a request without a token gets the challenge without an error code; a bad token
// gets error="invalid_token". Neither says more.
const CHALLENGE_MISSING = 'Bearer realm="bulwark"';
const CHALLENGE_INVALID = 'Bearer realm="bulwark", error="invalid_token"';
const DETAIL = "a valid bearer token is required";

function claimHeaderValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text =
    typeof value === "string" ? value : Array.isArray(value) ? value.join(",") : JSON.stringify(value);
  // A claim value must never split or inject headers.
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(text) ? text : undefined;
}

/** Removes every client-sent header whose lower-case name is in `names` (what the proxy forwards). */
function stripHeaders(ctx: RequestContext, names: ReadonlySet<string>): void {
  const raw = ctx.req.rawHeaders;
  for (let index = raw.length - 2; index >= 0; index -= 2) {
    if (names.has(raw[index]!.toLowerCase())) raw.splice(index, 2);
  }
  for (const name of names) delete ctx.req.headers[name];
}

export const authnStage: StageFactory = (route, services) => {
  const auth = route.auth;
  if (!auth) return null;
  const registry = services.jwtKeys;
  if (!registry) throw new BulwarkError("internal", `route ${route.name}: no key registry for bearer tokens`);
  const { jwt, enforce } = auth;
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
  const forwarded = Object.entries(jwt.forwardClaims).map(([header, path]) => ({
    header: header.toLowerCase(),
    path: path.split("."),
  }));
  const identityHeaders = new Set(forwarded.map((entry) => entry.header));
  const log = registry.log;
  // Per route and per config: a reload (new policy, new keys) starts with an empty cache.
  const verified = new VerifiedTokenCache(10_000, 60_000, policy.clockSkew);
  // Requests this stage refused, and with which challenge, for onResponse to add it.
  const challenges = new WeakMap<RequestContext, string>();

  function refuse(ctx: RequestContext, reason: string, challenge: string): Reply | undefined {
    log?.debug(
      { requestId: ctx.requestId, route: route.name, reason, enforce },
      enforce ? "bearer token refused" : "bearer token would be refused (shadow mode)",
    );
    if (!enforce) return undefined;
    challenges.set(ctx, challenge);
    return { status: 401, problem: { code: "unauthorized", detail: DETAIL } };
  }

  function accept(
    ctx: RequestContext,
    subject: string,
    claims: Readonly<Record<string, unknown>>,
  ): undefined {
    ctx.identity = { subject, claims };
    for (const { header, path } of forwarded) {
      const value = claimHeaderValue(claimAt(claims, path));
      if (value !== undefined) ctx.upstreamHeaders[header] = value;
    }
    return undefined;
  }

  return {
    name: "authn",
    onRequest: function authenticate(ctx) {
      if (identityHeaders.size > 0) stripHeaders(ctx, identityHeaders);
      const token = bearerToken(ctx.req.headers.authorization);
      if (token === null) return refuse(ctx, "no bearer token", CHALLENGE_MISSING);
      const cacheKey = VerifiedTokenCache.keyOf(token);
      const cached = verified.get(cacheKey);
      // A token seen recently is answered synchronously: no signature check, no promise.
      if (cached) return accept(ctx, cached.subject, cached.claims);
      return verifyJwt(token, policy, keys).then((result) => {
        if (!result.ok) return refuse(ctx, result.reason, CHALLENGE_INVALID);
        verified.set(cacheKey, { subject: result.subject, claims: result.claims });
        return accept(ctx, result.subject, result.claims);
      });
    },
    onResponse: function addChallenge(ctx, head) {
      const challenge = challenges.get(ctx);
      if (challenge !== undefined && head.fromGateway && head.status === 401) {
        head.headers["www-authenticate"] = challenge;
      }
    },
  };
};
