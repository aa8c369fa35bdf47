/**
 * Authentication (issue 3 §3–5). The route's credential methods (gateway/credentials/) are asked
 * in order; the first that finds its credential decides. On success the request carries the
 * identity and the configured claims go upstream in the configured headers. Client-sent copies of
 * those headers are removed on every request, verified or not, so the upstream can trust them.
 * Failures get a 401 with the method's `WWW-Authenticate` challenge (RFC 6750 §3) and a fixed
 * detail; the reason is logged at debug level only. With `enforce: false` (shadow mode) failures
 * are logged and the request goes through without an identity.
 */
import { BulwarkError } from "../../errors.js";
import { claimAt } from "../../security/jwt/verify.js";
import type { RequestContext } from "../context.js";
import { apiKeyMethod } from "../credentials/api-key.js";
import type { Attempt, CredentialMethod } from "../credentials/credential.js";
import { jwtMethod } from "../credentials/jwt.js";
import { sessionMethod } from "../credentials/session.js";
import { stripRequestHeaders } from "../request-headers.js";
import type { Reply, StageFactory } from "../stage.js";

const DETAIL = "valid credentials are required";
const FORBIDDEN: Reply = {
  status: 403,
  problem: { code: "forbidden", detail: "the credentials do not grant access to this resource" },
};
const STORE_UNAVAILABLE: Reply = {
  status: 503,
  problem: {
    code: "api_key_store_unavailable",
    detail: "credentials cannot be checked right now; retry later",
  },
};

function claimHeaderValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text =
    typeof value === "string" ? value : Array.isArray(value) ? value.join(",") : JSON.stringify(value);
  // A claim value must never split or inject headers.
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(text) ? text : undefined;
}

export const authnStage: StageFactory = (route, services) => {
  const auth = route.auth;
  if (!auth) return null;
  const methods: CredentialMethod[] = [];
  if (auth.jwt) {
    const registry = services.jwtKeys;
    if (!registry)
      throw new BulwarkError("internal", `route ${route.name}: no key registry for bearer tokens`);
    methods.push(jwtMethod(auth.jwt, registry, services.denyList));
  }
  if (auth.apiKey) {
    const verifier = services.apiKeys;
    if (!verifier) throw new BulwarkError("internal", `route ${route.name}: no API key verifier`);
    methods.push(apiKeyMethod(auth.apiKey, verifier));
  }
  if (auth.session) methods.push(sessionMethod(auth.session));
  const { enforce } = auth;
  const forwarded = Object.entries(auth.identityHeaders).map(([header, path]) => ({
    header: header.toLowerCase(),
    path: path.split("."),
  }));
  const identityHeaders = new Set(forwarded.map((entry) => entry.header));
  // The session's access token header too: a client must not hand the upstream a token of its
  // choosing. (Authorization is a credential clients send; the session method replaces it.)
  const tokenHeader = auth.session ? auth.session.accessTokenHeader?.toLowerCase() : undefined;
  if (tokenHeader !== undefined && tokenHeader !== "authorization") identityHeaders.add(tokenHeader);
  const log = services.log;
  // Requests this stage refused, and with which challenge, for onResponse to add it.
  const challenges = new WeakMap<RequestContext, string>();
  const missingChallenge = methods.find((method) => method.challenge)?.challenge?.missing;

  function refuse(
    ctx: RequestContext,
    method: string,
    reason: string,
    challenge?: string,
    problem?: "forbidden" | "api_key_store_unavailable",
  ): Reply | undefined {
    log?.debug(
      { requestId: ctx.requestId, route: route.name, method, reason, enforce },
      enforce ? "credentials refused" : "credentials would be refused (shadow mode)",
    );
    if (!enforce) return undefined;
    if (problem === "forbidden") return FORBIDDEN;
    if (problem === "api_key_store_unavailable") return STORE_UNAVAILABLE;
    if (challenge !== undefined) challenges.set(ctx, challenge);
    return { status: 401, problem: { code: "unauthorized", detail: DETAIL } };
  }

  function settle(ctx: RequestContext, method: CredentialMethod, attempt: Attempt): Reply | undefined {
    ctx.authMethod = method.name;
    if (!attempt.ok) {
      return refuse(ctx, method.name, attempt.reason, method.challenge?.invalid, attempt.problem);
    }
    ctx.identity = attempt.identity;
    for (const { header, path } of forwarded) {
      const value = claimHeaderValue(claimAt(attempt.identity.claims, path));
      if (value !== undefined) ctx.upstreamHeaders[header] = value;
    }
    return undefined;
  }

  return {
    name: "authn",
    onRequest: function authenticate(ctx) {
      if (identityHeaders.size > 0) stripRequestHeaders(ctx.req, identityHeaders);
      for (const method of methods) {
        const attempt = method.authenticate(ctx);
        if (attempt === undefined) continue;
        if (attempt instanceof Promise) return attempt.then((settled) => settle(ctx, method, settled));
        return settle(ctx, method, attempt);
      }
      if (enforce) {
        for (const method of methods) {
          const reply = method.onMissing?.(ctx);
          if (reply) return reply;
        }
      }
      return refuse(ctx, "none", "no credentials", missingChallenge);
    },
    onResponse: function addChallenge(ctx, head) {
      const challenge = challenges.get(ctx);
      if (challenge !== undefined && head.fromGateway && head.status === 401) {
        head.headers["www-authenticate"] = challenge;
      }
    },
  };
};
