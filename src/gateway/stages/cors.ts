/**
 * CORS answered at the gateway (Fetch standard, "CORS protocol"). Preflights are answered here and
 * never reach the upstream; on other responses the gateway owns every Access-Control-* header: the
 * upstream's are removed, so an upstream that reflects any Origin cannot leak credentialed responses,
 * and the allow headers are added only for an origin on the route's allow-list.
 */
import { BulwarkError } from "../../errors.js";
import { compileOriginMatcher } from "../../security/origins.js";
import type { OutgoingHeaders, RequestContext } from "../context.js";
import type { StageFactory } from "../stage.js";

// CORS-safelisted request-header names (Fetch standard, "CORS-safelisted request-header"). A browser names them in
// Access-Control-Request-Headers only when their value falls outside the safelist (for instance
// Content-Type: application/json); by then the origin has passed the allow-list, so they are allowed
// without being configured.
const SAFELISTED_HEADERS = ["accept", "accept-language", "content-language", "content-type", "range"];

// A preflight answer depends on these request headers; shared caches must key on them.
const PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

function isPreflight(ctx: RequestContext): boolean {
  return (
    ctx.method === "OPTIONS" &&
    ctx.req.headers.origin !== undefined &&
    ctx.req.headers["access-control-request-method"] !== undefined
  );
}

/** Adds Origin to a Vary value unless it (or "*") is already there. */
function varyWithOrigin(vary: string | string[] | undefined): string | string[] {
  if (vary === undefined) return "Origin";
  const value = Array.isArray(vary) ? vary.join(", ") : vary;
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name === "origin" || name === "*") return vary;
  }
  return value.trim() === "" ? "Origin" : `${value}, Origin`;
}

export const corsStage: StageFactory = (route) => {
  const cors = route.cors;
  if (!cors) return null;
  const matcher = compileOriginMatcher(cors.origins);
  if (matcher.any && cors.credentials) {
    // Refused by the cors-wildcard-credentials rule at load; a hand-built route must not slip past it.
    throw new BulwarkError(
      "config_invalid",
      `route ${route.name}: cors allows any origin together with credentials`,
    );
  }
  // With "*" and no credentials, the literal "*" is sent: public data, and never an echo of the Origin.
  const wildcard = matcher.any;
  const methods = new Set(cors.methods);

  const allowedHeaders = new Set(SAFELISTED_HEADERS);
  const allowHeaderList: string[] = [];
  for (const name of cors.allowHeaders) {
    const lower = name.toLowerCase();
    if (!allowedHeaders.has(lower)) allowHeaderList.push(name);
    allowedHeaders.add(lower);
  }
  allowHeaderList.push(...SAFELISTED_HEADERS);

  const preflightHeaders: OutgoingHeaders = Object.freeze({
    ...(cors.credentials ? { "access-control-allow-credentials": "true" } : {}),
    "access-control-allow-methods": cors.methods.join(", "),
    "access-control-allow-headers": allowHeaderList.join(", "),
    // Fetch expresses it in seconds; browsers cap it (Chromium 2 h, Firefox 24 h).
    "access-control-max-age": String(Math.floor(cors.maxAge / 1000)),
    vary: PREFLIGHT_VARY,
  });
  const exposeHeaders = cors.exposeHeaders.join(", ");

  /** The value of Access-Control-Allow-Origin for this Origin header, or null when it is not allowed. */
  function allowOrigin(origin: string | string[] | undefined): string | null {
    // "null" is sent by sandboxed iframes and file: pages, which any site can create.
    if (typeof origin !== "string" || origin === "null" || !matcher.matches(origin)) return null;
    // The echo is safe in a header: matches() accepted only scheme://host[:port] characters.
    return wildcard ? "*" : origin;
  }

  return {
    name: "cors",
    onRequest: function answerPreflight(ctx) {
      if (!isPreflight(ctx)) return undefined;
      const headers = ctx.req.headers;
      const origin = allowOrigin(headers.origin);
      if (origin === null)
        return { status: 403, problem: { code: "cors_rejected", detail: "origin not allowed" } };
      const method = headers["access-control-request-method"];
      if (typeof method !== "string" || !methods.has(method)) {
        return { status: 403, problem: { code: "cors_rejected", detail: "method not allowed" } };
      }
      const requested = headers["access-control-request-headers"];
      if (requested !== undefined) {
        const list = Array.isArray(requested) ? requested.join(",") : requested;
        for (const token of list.split(",")) {
          const name = token.trim().toLowerCase();
          if (name !== "" && !allowedHeaders.has(name)) {
            return { status: 403, problem: { code: "cors_rejected", detail: "request header not allowed" } };
          }
        }
      }
      // Access-Control-Request-Private-Network is deliberately not answered: exposing a private
      // network service to public sites is not something a gateway grants by default.
      return { status: 204, headers: { ...preflightHeaders, "access-control-allow-origin": origin } };
    },
    onResponse: function applyCorsHeaders(ctx, head) {
      // Our own preflight answer (204 or 403) is already complete.
      if (head.fromGateway && isPreflight(ctx)) return;
      const headers = head.headers;
      for (const name of Object.keys(headers)) if (name.startsWith("access-control-")) delete headers[name];
      headers.vary = varyWithOrigin(headers.vary);
      const origin = allowOrigin(ctx.req.headers.origin);
      if (origin === null) return;
      headers["access-control-allow-origin"] = origin;
      if (cors.credentials) headers["access-control-allow-credentials"] = "true";
      if (exposeHeaders !== "") headers["access-control-expose-headers"] = exposeHeaders;
    },
  };
};
