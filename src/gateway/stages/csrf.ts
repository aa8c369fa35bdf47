/**
 * CSRF protection (issue 3 §5), after authn: an unsafe request (POST, PUT, PATCH, DELETE …)
 * authenticated by a session cookie must come from an allowed origin and carry the session's
 * CSRF token (src/security/csrf.ts has the rules and why). Requests authenticated otherwise — a
 * bearer token, an API key — are not checked: a browser never attaches those on its own, which
 * is what CSRF abuses. Failures get a 403 problem with a stable code; with `csrf.enforce: false`
 * they are only logged.
 */
import { checkCsrf } from "../../security/csrf.js";
import { sessionLookups } from "../credentials/session.js";
import type { StageFactory } from "../stage.js";

const DETAILS = {
  csrf_origin_rejected: "unsafe requests are accepted from this site's own pages only",
  csrf_token_missing: "send the token of the __Host-bulwark-csrf cookie in the csrf header",
  csrf_token_invalid: "the csrf token does not belong to this session",
} as const;

export const csrfStage: StageFactory = (route, services) => {
  const session = route.auth?.session;
  if (!session || !services.sessions) return null;
  const { enforce } = session.csrf;
  const header = session.csrf.header.toLowerCase();
  const allowedOrigins = new Set(
    [new URL(session.redirectUrl).origin, ...session.csrf.trustedOrigins].map((origin) =>
      origin.toLowerCase(),
    ),
  );
  const log = services.log;
  return {
    name: "csrf",
    onRequest: function checkForgery(ctx) {
      if (ctx.identity?.method !== "session") return undefined;
      const lookup = sessionLookups.get(ctx);
      if (lookup?.kind !== "active") return undefined;
      const headers = ctx.req.headers;
      const verdict = checkCsrf({
        method: ctx.method,
        origin: headers.origin as string | undefined,
        secFetchSite: headers["sec-fetch-site"] as string | undefined,
        token: headers[header] as string | undefined,
        expectedToken: lookup.record.csrfToken,
        allowedOrigins,
      });
      if (verdict.ok) return undefined;
      log?.debug(
        { requestId: ctx.requestId, route: route.name, reason: verdict.reason, enforce },
        enforce ? "csrf check refused the request" : "csrf check would refuse the request (shadow mode)",
      );
      if (!enforce) return undefined;
      return { status: 403, problem: { code: verdict.code, detail: DETAILS[verdict.code] } };
    },
  };
};
