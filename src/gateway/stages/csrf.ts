/**
 * CSRF protection (issue 3 §5), after authn: an unsafe request (POST, PUT, PATCH, DELETE …)
 * authenticated by a session cookie must come from an allowed origin and carry the session's
 * CSRF token (src/security/csrf.ts has the rules and why). Requests authenticated otherwise — a
 * bearer token, an API key — are not checked: a browser never attaches those on its own, which
 * is what CSRF abuses. Failures get a 403 problem with a stable code; with `csrf.enforce: false`
 * they are only logged.
 *
 * The token comes from the configured header; a classic HTML form cannot set headers, so when
 * the header is absent and the body is a form (application/x-www-form-urlencoded, or
 * multipart/form-data, where only the start of the body is read), the token is read from a form
 * field. Only then is the body read (request-body.ts: bounded, and forwarded unchanged
 * afterwards, the field included); every other request streams untouched.
 */
import {
  type CsrfInput,
  type CsrfVerdict,
  checkCsrf,
  formToken,
  multipartToken,
} from "../../security/csrf.js";
import type { RequestContext } from "../context.js";
import { sessionLookups } from "../credentials/session.js";
import {
  type BodyRead,
  bodyFormat,
  bodyText,
  multipartBoundary,
  readRequestBody,
  unreadBodyReply,
} from "../request-body.js";
import type { Reply, StageFactory } from "../stage.js";

export const csrfStage: StageFactory = (route, services) => {
  const session = route.auth?.session;
  if (!session || !services.sessions) return null;
  const { enforce, formField } = session.csrf;
  const header = session.csrf.header.toLowerCase();
  const bodyIdle = services.config.server.timeouts.bodyIdle;
  const allowedOrigins = new Set(
    [new URL(session.redirectUrl).origin, ...session.csrf.trustedOrigins].map((origin) =>
      origin.toLowerCase(),
    ),
  );
  const details = {
    csrf_origin_rejected: "unsafe requests are accepted from this site's own pages only",
    csrf_token_missing: `send the token of the __Host-bulwark-csrf cookie in the ${session.csrf.header} header or the ${formField} form field`,
    csrf_token_invalid: "the csrf token does not belong to this session",
  } as const;
  const log = services.log;

  function conclude(ctx: RequestContext, verdict: CsrfVerdict): Reply | undefined {
    if (verdict.ok) return undefined;
    log?.debug(
      { requestId: ctx.requestId, route: route.name, reason: verdict.reason, enforce },
      enforce ? "csrf check refused the request" : "csrf check would refuse the request (shadow mode)",
    );
    if (!enforce) return undefined;
    return { status: 403, problem: { code: verdict.code, detail: details[verdict.code] } };
  }

  return {
    name: "csrf",
    onRequest: function checkForgery(ctx) {
      if (ctx.identity?.method !== "session") return undefined;
      const lookup = sessionLookups.get(ctx);
      if (lookup?.kind !== "active") return undefined;
      const headers = ctx.req.headers;
      const token = headers[header] as string | undefined;
      const input: CsrfInput = {
        method: ctx.method,
        origin: headers.origin as string | undefined,
        secFetchSite: headers["sec-fetch-site"] as string | undefined,
        token,
        expectedToken: lookup.record.csrfToken,
        allowedOrigins,
      };
      const verdict = checkCsrf(input);
      // The body is read only when it alone can decide: the origin passed, the header is
      // absent, and the body is a form.
      if (verdict.ok || verdict.code !== "csrf_token_missing" || token !== undefined) {
        return conclude(ctx, verdict);
      }
      const fromBody = csrfTokenFromBody(ctx, session.csrf, bodyIdle);
      if (fromBody === undefined) return conclude(ctx, verdict);
      const judge = (found: BodyToken) =>
        "unread" in found ? found.unread : conclude(ctx, checkCsrf({ ...input, token: found.token }));
      return fromBody instanceof Promise ? fromBody.then(judge) : judge(fromBody);
    },
  };
};

/** What a form body gave: its token (undefined when it has none), or the answer to a body that could not be read. */
export type BodyToken = { readonly unread: Reply } | { readonly token: string | undefined };

/**
 * The CSRF token of a form body (urlencoded, or the start of a multipart form), read within
 * `csrf.bodyReadLimit` and the body idle timeout; undefined when the body is no form. Shared by
 * the csrf stage and the sign-out endpoint, which takes the same token.
 */
export function csrfTokenFromBody(
  ctx: RequestContext,
  csrf: { readonly formField: string; readonly bodyReadLimit: number },
  bodyIdleMs: number,
): BodyToken | Promise<BodyToken> | undefined {
  const boundary = multipartBoundary(ctx.req);
  if (boundary === undefined && bodyFormat(ctx.req) !== "form") return undefined;
  const tokenIn = (read: BodyRead): BodyToken => {
    const unread = unreadBodyReply(ctx, read);
    if (unread) return { unread };
    if (boundary !== undefined) {
      const bytes = read.kind === "read" ? read.body : read.kind === "partial" ? read.head : undefined;
      return { token: bytes === undefined ? undefined : multipartToken(bytes, boundary, csrf.formField) };
    }
    // A form too large to read, or not UTF-8, carries no token the gateway can see.
    const text = read.kind === "read" ? bodyText(read.body) : undefined;
    return { token: text === undefined ? undefined : formToken(text, csrf.formField) };
  };
  // A multipart form may carry files of any size: its start is read, where the fields are.
  const read = readRequestBody(ctx, csrf.bodyReadLimit, bodyIdleMs, boundary !== undefined);
  return read instanceof Promise ? read.then(tokenIn) : tokenIn(read);
}
