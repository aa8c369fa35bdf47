/**
 * Browser sign-in (issue 3 §5), before authn. On a route with `auth.session` it answers the
 * sign-in endpoints next to the configured callback (`…/.bulwark/auth/signin`, `callback`,
 * `signout`) and, for every other request, checks the session cookie: signature, store lookup,
 * idle and absolute timeouts, and a token refresh when the access token has expired. What it
 * finds is left for the session credential method (credentials/session.ts).
 *
 * On every route of a gateway with `server.sessions`, the gateway's own cookies are removed from
 * the Cookie header before the upstream sees it; the browser's other cookies pass unchanged.
 */
import { randomNonce, randomPKCECodeVerifier } from "openid-client";
import type { AuditTrail } from "../../audit/trail.js";
import { type ErrorCode, ErrorCodes } from "../../errors.js";
import { checkCsrf, sameToken } from "../../security/csrf.js";
import type { KeyLog } from "../../security/jwt/jwks-cache.js";
import {
  indexesToEnd,
  LogoutTokenRefused,
  logoutIndexKeys,
  REPLAY_WINDOW_MS,
  replayKey,
  verifyLogoutToken,
} from "../../security/sessions/backchannel-logout.js";
import {
  cookieNamesWithPrefix,
  readCookie,
  serializeCookie,
  withoutCookies,
} from "../../security/sessions/cookies.js";
import { ProviderRefused, ProviderUnavailable, type TokenSet } from "../../security/sessions/oidc-client.js";
import { safeReturnPath } from "../../security/sessions/return-to.js";
import type { SessionAuthConfig } from "../../security/sessions/schema.js";
import type { SessionRecord } from "../../security/sessions/session-record.js";
import type { SessionServices } from "../../security/sessions/session-services.js";
import { newCsrfToken, STATE_TTL_MS } from "../../security/sessions/sessions.js";
import { SessionStoreUnavailable } from "../../security/sessions/store.js";
import { requestEvent } from "../audit-events.js";
import type { RequestContext } from "../context.js";
import {
  authEndpoints,
  CSRF_COOKIE,
  GATEWAY_COOKIE_PREFIX,
  isGatewayCookie,
  SESSION_COOKIE,
  type SessionLookup,
  SIGN_IN_COOKIE,
  SIGN_IN_COOKIE_PREFIX,
  sessionLookups,
  signInCookieName,
} from "../credentials/session.js";
import { bodyFormat, readRequestBody, unreadBodyReply } from "../request-body.js";
import type { Reply, Stage, StageFactory } from "../stage.js";
import { csrfTokenFromBody } from "./csrf.js";

/**
 * Sign-ins a browser may have in progress at once (tabs). Starting one more clears the others
 * first, so a loop of abandoned sign-ins cannot grow the Cookie header past the header limit.
 */
const MAX_PENDING_SIGN_INS = 4;
// Refresh a little before the access token expires, so a request never carries a stale session.
const REFRESH_EARLY_MS = 5000;
// How long one request may hold a session's refresh: longer than the provider's timeout (10 s),
// so a holder that died frees it soon after.
const REFRESH_LOCK_MS = 15_000;

/** Removes the gateway's cookies from the request the upstream will get (parsed map and raw). */
function stripGatewayCookies(ctx: RequestContext): void {
  const header = ctx.req.headers.cookie;
  if (header === undefined || !header.includes(GATEWAY_COOKIE_PREFIX)) return;
  const kept = withoutCookies(header, isGatewayCookie);
  const raw = ctx.req.rawHeaders;
  for (let index = raw.length - 2; index >= 0; index -= 2) {
    if (raw[index]!.toLowerCase() === "cookie") raw.splice(index, 2);
  }
  if (kept === undefined) {
    delete ctx.req.headers.cookie;
  } else {
    ctx.req.headers.cookie = kept;
    raw.push("cookie", kept);
  }
}

function clearCookie(name: string): string {
  return serializeCookie(name, "", { maxAge: 0, httpOnly: name !== CSRF_COOKIE, sameSite: "Lax" });
}

function redirect(location: string, status = 303): Reply {
  return { status, headers: { location, "cache-control": "no-store" } };
}

function problem(code: ErrorCode, detail: string): Reply {
  return { status: ErrorCodes[code].status, problem: { code, detail } };
}

// A logout token is a few hundred bytes to a few kilobytes; its form body is read whole.
const LOGOUT_BODY_LIMIT = 16 * 1024;

const STORE_DOWN = "sessions cannot be checked right now; try again shortly";
const PROVIDER_DOWN = "the identity provider cannot be reached; try again shortly";

export const signInStage: StageFactory = (route, services) => {
  const shared = services.sessions;
  if (!shared) return null;
  const session = route.auth?.session;
  if (!session) {
    return {
      name: "sign-in",
      onRequest: function stripCookies(ctx) {
        stripGatewayCookies(ctx);
        return undefined;
      },
    };
  }
  return sessionRouteStage(
    route.name,
    session,
    shared,
    services.log,
    services.audit,
    services.config.server.timeouts.bodyIdle,
  );
};

function sessionRouteStage(
  routeName: string,
  session: SessionAuthConfig,
  shared: SessionServices,
  log: KeyLog | undefined,
  audit: AuditTrail | undefined,
  bodyIdleMs: number,
): Stage {
  const { sessions, signer, timeouts } = shared;
  const endpoints = authEndpoints(session);
  const endpointBase = endpoints.callback.slice(0, endpoints.callback.lastIndexOf("/") + 1);
  const client = shared.clientFor({
    issuer: session.issuer,
    clientId: session.clientId,
    clientSecret: session.clientSecret,
    redirectUrl: session.redirectUrl,
    scopes: session.scopes,
    userinfo: session.userinfo,
  });
  const redirectUrl = new URL(session.redirectUrl);
  const allowedOrigins = new Set(
    [redirectUrl.origin, ...session.csrf.trustedOrigins].map((o) => o.toLowerCase()),
  );
  const csrfHeader = session.csrf.header.toLowerCase();
  // Fetched now, so the first logout token does not wait for the provider's keys.
  const logoutKeys = session.backchannelLogout ? shared.keysFor(session.issuer) : undefined;
  const sessionMaxAge = Math.floor(timeouts.absolute / 1000);
  // Cookies to send with the answer of a request (sign-in, sign-out, a dead session to clear).
  const outgoing = new WeakMap<RequestContext, string[]>();
  // Who a callback signed in, for its audit record.
  const signedIn = new WeakMap<RequestContext, string>();

  /** An audit record of a sign-in or sign-out (never tokens, cookies or codes: event.ts). */
  function auditAuth(
    ctx: RequestContext,
    action: "auth.signin" | "auth.signout",
    reply: Reply,
    subject?: string,
  ): void {
    if (!audit) return;
    const code = reply.problem?.code;
    const outcome = code === undefined ? "success" : ErrorCodes[code].status >= 500 ? "error" : "failure";
    audit.record({
      ...requestEvent(ctx, reply.status),
      action,
      outcome,
      subject: subject ?? null,
      reason: code ?? null,
    });
  }

  function setCookies(ctx: RequestContext, ...cookies: string[]): void {
    const list = outgoing.get(ctx);
    if (list) list.push(...cookies);
    else outgoing.set(ctx, cookies);
  }

  function clearSessionCookies(ctx: RequestContext): void {
    setCookies(ctx, clearCookie(SESSION_COOKIE), clearCookie(CSRF_COOKIE));
  }

  function debug(ctx: RequestContext, reason: string, message: string): void {
    log?.debug({ requestId: ctx.requestId, route: routeName, reason }, message);
  }

  function failure(ctx: RequestContext, error: unknown, during: string): Reply {
    if (error instanceof SessionStoreUnavailable) {
      // The store logs its state changes once; per request only at debug level (no log flood).
      debug(ctx, during, "session store unavailable");
      return problem("session_store_unavailable", STORE_DOWN);
    }
    if (error instanceof ProviderUnavailable) {
      log?.warn({ requestId: ctx.requestId, route: routeName, during }, "identity provider unreachable");
      return problem("sign_in_unavailable", PROVIDER_DOWN);
    }
    if (error instanceof ProviderRefused) {
      debug(ctx, error.message, "sign-in refused by the identity provider");
      return problem("sign_in_failed", "the identity provider did not complete the sign-in; start again");
    }
    throw error;
  }

  /** Reads the session cookie and leaves what it found for the session method. */
  async function lookup(ctx: RequestContext, signed: string): Promise<SessionLookup> {
    const id = signer.verify(SESSION_COOKIE, signed);
    if (id === undefined) return { kind: "forged" };
    const loaded = await sessions.load(id, timeouts);
    if (loaded.status === "ended") return { kind: "ended", reason: loaded.reason };
    let record = loaded.record;
    if (record.issuer === session.issuer && record.clientId === session.clientId) {
      const refreshed = await refreshIfDue(ctx, id, record);
      if (refreshed === undefined) return { kind: "ended", reason: "refresh refused by the provider" };
      record = refreshed;
    }
    return { kind: "active", id, record };
  }

  /** The record, refreshed when its access token has expired; undefined when the provider refused. */
  function refreshIfDue(
    ctx: RequestContext,
    id: string,
    record: SessionRecord,
  ): Promise<SessionRecord | undefined> {
    const due = record.accessTokenExpiresAt;
    if (!record.refreshToken || due === undefined || Date.now() < due - REFRESH_EARLY_MS) {
      return Promise.resolve(record);
    }
    // One refresh per session at a time in this process: a rotated refresh token works once, and
    // a second concurrent use would look like token theft to the provider (RFC 9700 §4.14.2).
    const running = shared.refreshing.get(id);
    if (running) return running;
    const refresh = (async (): Promise<SessionRecord | undefined> => {
      // Across instances sharing the store, too: one refresh at a time (a lock in the store).
      // Without the lock this request goes on with the claims it has while the holder refreshes.
      if (!(await sessions.claimRefresh(id, REFRESH_LOCK_MS))) {
        debug(ctx, "another request holds the refresh", "token refresh left to another instance");
        return record;
      }
      try {
        // Read again under the lock: another instance may have refreshed (and rotated the
        // refresh token) between this request's read and the lock; its result is used as it is.
        const current = await sessions.load(id, timeouts);
        if (current.status === "ended") return undefined;
        if (current.record.refreshToken !== record.refreshToken) return current.record;
        return await redeemRefresh(ctx, id, current.record);
      } finally {
        await sessions.releaseRefresh(id).catch(() => {});
      }
    })().finally(() => shared.refreshing.delete(id));
    shared.refreshing.set(id, refresh);
    return refresh;
  }

  /** Presents the refresh token; the new record, or undefined when the provider refused. */
  async function redeemRefresh(
    ctx: RequestContext,
    id: string,
    record: SessionRecord,
  ): Promise<SessionRecord | undefined> {
    let tokens: TokenSet;
    try {
      tokens = await client.refresh(record.refreshToken!, record.claims as Record<string, unknown>);
    } catch (error) {
      if (error instanceof ProviderUnavailable) {
        // A provider briefly down does not sign everyone out: the session stays until its timeouts.
        debug(ctx, (error as Error).message, "token refresh postponed; provider unreachable");
        return record;
      }
      debug(ctx, (error as Error).message, "token refresh refused; session ended");
      await sessions.destroy(id);
      return undefined;
    }
    if (tokens.subject !== record.subject) {
      debug(ctx, "subject changed on refresh", "token refresh refused; session ended");
      await sessions.destroy(id);
      return undefined;
    }
    const next: SessionRecord = {
      ...record,
      claims: tokens.claims,
      idToken: tokens.idToken ?? record.idToken,
      refreshToken: tokens.refreshToken,
      accessToken: tokens.accessToken,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
    };
    await sessions.update(id, next, timeouts);
    return next;
  }

  async function signIn(ctx: RequestContext): Promise<Reply> {
    let returnTo = safeReturnPath(new URLSearchParams(ctx.query).get("rd"));
    // Returning to a sign-in endpoint would start the next sign-in at once, in a loop.
    if (returnTo.startsWith(endpointBase)) returnTo = "/";
    const codeVerifier = randomPKCECodeVerifier();
    const nonce = randomNonce();
    try {
      const state = await sessions.begin({
        codeVerifier,
        nonce,
        returnTo,
        issuer: session.issuer,
        clientId: session.clientId,
      });
      const url = await client.authorizationUrl(state, nonce, codeVerifier);
      // Binds the state to this browser: a callback carrying a state this browser did not start
      // (login CSRF, a link from an attacker) is refused. One cookie per sign-in, so two tabs
      // signing in at once each keep theirs.
      const pending = cookieNamesWithPrefix(ctx.req.headers.cookie, SIGN_IN_COOKIE_PREFIX);
      const stale = pending.length >= MAX_PENDING_SIGN_INS ? pending.map(clearCookie) : [];
      setCookies(
        ctx,
        ...stale,
        serializeCookie(signInCookieName(state)!, signer.sign(SIGN_IN_COOKIE, state), {
          maxAge: STATE_TTL_MS / 1000,
          httpOnly: true,
          // Lax: the provider sends the browser back with a cross-site top-level GET.
          sameSite: "Lax",
        }),
      );
      return redirect(url.href, 302);
    } catch (error) {
      return failure(ctx, error, "sign-in");
    }
  }

  async function callback(ctx: RequestContext): Promise<Reply> {
    const params = new URLSearchParams(ctx.query);
    const state = params.get("state");
    if (!state) return problem("sign_in_state_invalid", "the sign-in response carries no state; start again");
    const cookie = signInCookieName(state);
    const value = cookie === undefined ? undefined : readCookie(ctx.req.headers.cookie, cookie);
    const bound = signer.verify(SIGN_IN_COOKIE, value);
    if (value !== undefined) setCookies(ctx, clearCookie(cookie!));
    if (bound === undefined || !sameToken(bound, state)) {
      debug(
        ctx,
        bound === undefined ? "no sign-in cookie" : "state of another sign-in",
        "sign-in state refused",
      );
      return problem("sign_in_state_invalid", "this sign-in was not started in this browser; start again");
    }
    try {
      const pending = await sessions.finish(state);
      if (!pending || pending.issuer !== session.issuer || pending.clientId !== session.clientId) {
        debug(ctx, "state unknown, used or expired", "sign-in state refused");
        return problem(
          "sign_in_state_invalid",
          "the sign-in state was already used or has expired; start again",
        );
      }
      const currentUrl = new URL(redirectUrl);
      currentUrl.search = ctx.query;
      const tokens = await client.redeem(currentUrl, {
        state,
        nonce: pending.nonce,
        codeVerifier: pending.codeVerifier,
      });
      const now = Date.now();
      const record: SessionRecord = {
        subject: tokens.subject,
        claims: tokens.claims,
        issuer: session.issuer,
        clientId: session.clientId,
        createdAt: now,
        expiresAt: now + timeouts.absolute,
        csrfToken: newCsrfToken(),
        idToken: tokens.idToken,
        refreshToken: tokens.refreshToken,
        accessToken: tokens.accessToken,
        accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      };
      // A new id at every sign-in, and the old session gone: no session fixation.
      const previous = signer.verify(SESSION_COOKIE, readCookie(ctx.req.headers.cookie, SESSION_COOKIE));
      if (previous !== undefined) await sessions.destroy(previous);
      const id = await sessions.create(
        record,
        timeouts,
        session.backchannelLogout ? logoutIndexKeys(session.issuer, record.subject, record.claims) : [],
      );
      setCookies(
        ctx,
        serializeCookie(SESSION_COOKIE, signer.sign(SESSION_COOKIE, id), {
          maxAge: sessionMaxAge,
          httpOnly: true,
          sameSite: "Lax",
        }),
        // Readable by the page's scripts, which send it back in the CSRF header.
        serializeCookie(CSRF_COOKIE, record.csrfToken, {
          maxAge: sessionMaxAge,
          httpOnly: false,
          sameSite: "Strict",
        }),
      );
      log?.debug({ requestId: ctx.requestId, route: routeName, subject: record.subject }, "signed in");
      signedIn.set(ctx, record.subject);
      return redirect(pending.returnTo);
    } catch (error) {
      return failure(ctx, error, "callback");
    }
  }

  async function signOut(ctx: RequestContext): Promise<Reply> {
    const headers = ctx.req.headers;
    const secFetchSite = headers["sec-fetch-site"] as string | undefined;
    let found: SessionLookup | undefined;
    try {
      const signed = readCookie(headers.cookie, SESSION_COOKIE);
      found = signed === undefined ? undefined : await lookup(ctx, signed);
    } catch (error) {
      return failure(ctx, error, "sign-out");
    }
    const active = found?.kind === "active" ? found : undefined;
    if (ctx.method === "GET") {
      // A sign-out link works from the application's own pages (or typed in); another site cannot
      // sign a user out by embedding it.
      if (active && secFetchSite !== "same-origin" && secFetchSite !== "none") {
        return problem(
          "csrf_origin_rejected",
          "sign out from a page of this site, or with POST and the csrf token",
        );
      }
    } else if (active) {
      const input = {
        method: ctx.method,
        origin: headers.origin as string | undefined,
        secFetchSite,
        token: headers[csrfHeader] as string | undefined,
        expectedToken: active.record.csrfToken,
        allowedOrigins,
      };
      let verdict = checkCsrf(input);
      // A classic "Sign out" form sends the token as a form field (as the csrf stage accepts).
      if (!verdict.ok && verdict.code === "csrf_token_missing" && input.token === undefined) {
        const fromBody = await csrfTokenFromBody(ctx, session.csrf, bodyIdleMs);
        if (fromBody !== undefined && "unread" in fromBody) return fromBody.unread;
        if (fromBody !== undefined) verdict = checkCsrf({ ...input, token: fromBody.token });
      }
      if (!verdict.ok) {
        debug(ctx, verdict.reason, "sign-out refused (csrf)");
        return problem(verdict.code, "sign-out needs the csrf token of the session");
      }
    }
    clearSessionCookies(ctx);
    if (!active) return redirect(session.afterSignOut);
    try {
      await sessions.destroy(active.id);
    } catch (error) {
      return failure(ctx, error, "sign-out");
    }
    log?.debug({ requestId: ctx.requestId, route: routeName, subject: active.record.subject }, "signed out");
    auditAuth(ctx, "auth.signout", { status: 303 }, active.record.subject);
    if (session.endSession) {
      try {
        const url = await client.endSessionUrl(active.record.idToken, session.postLogoutRedirectUrl);
        if (url) return redirect(url.href);
      } catch (error) {
        // Signed out here; the provider's own session stays (it is unreachable), so say so in logs.
        log?.warn(
          { requestId: ctx.requestId, route: routeName, error: (error as Error).message },
          "rp-initiated logout skipped",
        );
      }
    }
    return redirect(session.afterSignOut);
  }

  /**
   * OpenID Connect Back-Channel Logout (§2.5–2.8): the provider POSTs `logout_token` as a form;
   * a valid token ends the sessions it names and gets 200, anything else 400 (the provider does
   * not retry, so every refusal is logged at warn level with its reason).
   */
  async function backchannelLogout(ctx: RequestContext): Promise<Reply> {
    const refuse = (reason: string, status = 400): Reply => {
      log?.warn({ requestId: ctx.requestId, route: routeName, reason }, "back-channel logout refused");
      audit?.record({
        ...requestEvent(ctx, status),
        action: "auth.backchannel_logout",
        outcome: status >= 500 ? "error" : "failure",
        reason: status >= 500 ? "session_store_unavailable" : "logout_token_invalid",
      });
      return status >= 500
        ? problem("session_store_unavailable", STORE_DOWN)
        : {
            status,
            headers: { "cache-control": "no-store" },
            problem: { code: "bad_request", detail: reason },
          };
    };
    if (bodyFormat(ctx.req) !== "form") {
      return refuse("expected an application/x-www-form-urlencoded body with logout_token");
    }
    const read = await readRequestBody(ctx, LOGOUT_BODY_LIMIT, bodyIdleMs);
    const unread = unreadBodyReply(ctx, read);
    if (unread) return unread;
    if (read.kind !== "read") return refuse(`the body is larger than ${LOGOUT_BODY_LIMIT} bytes`);
    const token = new URLSearchParams(read.body.toString("utf8")).get("logout_token");
    if (!token) return refuse("the body has no logout_token");
    let verified: Awaited<ReturnType<typeof verifyLogoutToken>>;
    try {
      if (!logoutKeys!.loaded) await logoutKeys!.refresh();
      verified = await verifyLogoutToken(token, {
        issuer: session.issuer,
        clientId: session.clientId,
        keys: logoutKeys!,
      });
    } catch (error) {
      if (error instanceof LogoutTokenRefused) return refuse(error.reason);
      throw error;
    }
    let ended: number;
    try {
      if (!(await sessions.firstUse(replayKey(session.issuer, verified.jti), REPLAY_WINDOW_MS))) {
        return refuse("this logout token was already used (jti seen before)");
      }
      ended = await sessions.endIndexed(indexesToEnd(session.issuer, verified));
    } catch (error) {
      if (error instanceof SessionStoreUnavailable) return refuse("the session store is unavailable", 503);
      throw error;
    }
    log?.info(
      { requestId: ctx.requestId, route: routeName, sessions: ended, by: verified.sid ? "sid" : "sub" },
      "back-channel logout ended sessions",
    );
    audit?.record({
      ...requestEvent(ctx, 200),
      action: "auth.backchannel_logout",
      outcome: "success",
      subject: verified.sub ?? null,
      reason: null,
    });
    return { status: 200, headers: { "cache-control": "no-store" } };
  }

  return {
    name: "sign-in",
    onRequest: function signInOrLoad(ctx: RequestContext): undefined | Reply | Promise<undefined | Reply> {
      const path = ctx.path;
      if (path === endpoints.backchannelLogout && session.backchannelLogout) {
        if (ctx.method !== "POST") return problem("method_not_allowed", "use POST");
        return backchannelLogout(ctx);
      }
      if (path === endpoints.signIn || path === endpoints.callback || path === endpoints.signOut) {
        const isSignOut = path === endpoints.signOut;
        if (ctx.method !== "GET" && !(isSignOut && ctx.method === "POST")) {
          return problem("method_not_allowed", isSignOut ? "use GET or POST" : "use GET");
        }
        if (path === endpoints.signIn) return signIn(ctx);
        if (path === endpoints.callback) {
          return callback(ctx).then((reply) => {
            auditAuth(ctx, "auth.signin", reply, signedIn.get(ctx));
            return reply;
          });
        }
        return signOut(ctx);
      }
      const signed = readCookie(ctx.req.headers.cookie, SESSION_COOKIE);
      stripGatewayCookies(ctx);
      if (signed === undefined) return undefined;
      return lookup(ctx, signed).then(
        (found) => {
          sessionLookups.set(ctx, found);
          if (found.kind !== "active") {
            debug(
              ctx,
              found.kind === "forged" ? "session cookie signature invalid" : found.reason,
              "session not usable",
            );
            clearSessionCookies(ctx);
          }
          return undefined;
        },
        (error: unknown) => failure(ctx, error, "session lookup"),
      );
    },
    onResponse: function sendCookies(ctx, head) {
      const cookies = outgoing.get(ctx);
      if (!cookies) return;
      const existing = head.headers["set-cookie"];
      head.headers["set-cookie"] =
        existing === undefined ? cookies : [...(Array.isArray(existing) ? existing : [existing]), ...cookies];
    },
  };
}
