/**
 * API keys (issue 3 §4) as a credential method: the key from the configured header (default
 * `X-API-Key`, or `Authorization: Bearer bwk_…`), checked by the gateway's one verifier
 * (src/security/api-keys/verifier.ts: synchronous when cached). The identity is the key id, with
 * the key's scopes as a space-separated `scope` claim so `authorize.scopes` applies to keys as to
 * tokens. A valid key without the route's scopes is a 403; a store outage a 503. The key header
 * is removed before the request goes upstream.
 */

import { presentedKey } from "../../security/api-keys/presented-key.js";
import type { ApiKeyAuthConfig } from "../../security/api-keys/schema.js";
import type { ApiKeyVerifier, Outcome } from "../../security/api-keys/verifier.js";
import { stripRequestHeaders } from "../request-headers.js";
import type { Attempt, CredentialMethod } from "./credential.js";

const CHALLENGE = {
  missing: 'ApiKey realm="bulwark"',
  invalid: 'ApiKey realm="bulwark", error="invalid_key"',
};

export function apiKeyMethod(config: ApiKeyAuthConfig, verifier: ApiKeyVerifier): CredentialMethod {
  const header = config.header.toLowerCase();
  const required = config.scopes;
  // `Authorization` stays: it may carry something else the upstream expects on other requests.
  const stripped = header === "authorization" ? undefined : new Set([header]);

  function settle(outcome: Outcome): Attempt {
    if (!outcome.ok) {
      return outcome.reason === "store_unavailable"
        ? { ok: false, reason: "api key store unavailable", problem: "api_key_store_unavailable" }
        : { ok: false, reason: `api key refused: ${outcome.reason}` };
    }
    const key = outcome.key;
    const missing = required.filter((scope) => !key.scopes.includes(scope));
    if (missing.length > 0)
      return { ok: false, reason: "api key lacks the route's scopes", problem: "forbidden" };
    return {
      ok: true,
      identity: {
        subject: key.id,
        method: "api-key",
        claims: { sub: key.id, key_id: key.id, name: key.name, scope: key.scopes.join(" ") },
      },
    };
  }

  return {
    name: "api-key",
    challenge: CHALLENGE,
    authenticate: function authenticateApiKey(ctx) {
      const presented = presentedKey(header, ctx.req.headers[header]);
      if (presented === null) return undefined;
      // The upstream never needs the key: one place fewer for it to leak from (its logs).
      if (stripped) stripRequestHeaders(ctx.req, stripped);
      const outcome = verifier.check(presented);
      return outcome instanceof Promise ? outcome.then(settle) : settle(outcome);
    },
  };
}
