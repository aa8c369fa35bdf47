/**
 * Browser sessions as a credential method (issue 3 §5). The sign-in stage, which runs before
 * authn, reads and checks the session cookie (an asynchronous store lookup, and a token refresh
 * when one is due) and leaves what it found here; this method only turns that into an answer, so
 * it is synchronous. A request without a live session is "no credential": browser navigations
 * are sent to sign in (onMissing), API calls get the 401. A cookie with a bad signature is a
 * refused credential (401).
 */
import type { SessionAuthConfig } from "../../security/sessions/schema.js";
import type { SessionRecord } from "../../security/sessions/session-record.js";
import type { RequestContext } from "../context.js";
import { stripRequestHeaders } from "../request-headers.js";
import type { Reply } from "../stage.js";
import type { CredentialMethod } from "./credential.js";

/**
 * The gateway's cookies; all `__Host-` (Secure, Path=/, no Domain), and every cookie named with
 * this prefix is removed before the upstream (the gateway's namespace, whoever set it).
 */
export const GATEWAY_COOKIE_PREFIX = "__Host-bulwark-";
export const SESSION_COOKIE = "__Host-bulwark-session";
export const CSRF_COOKIE = "__Host-bulwark-csrf";
/** What the pre-auth cookies are signed as (the signature binds a value to its kind of cookie). */
export const SIGN_IN_COOKIE = "__Host-bulwark-signin";
/**
 * One pre-auth cookie per sign-in in progress, named after its state (`<prefix><first 12
 * characters of the state>`), so sign-ins started in two tabs at once do not overwrite each
 * other's and both callbacks succeed.
 */
export const SIGN_IN_COOKIE_PREFIX = `${SIGN_IN_COOKIE}-`;

/** The pre-auth cookie of the sign-in with this state; undefined for a state no sign-in made. */
export function signInCookieName(state: string): string | undefined {
  return /^[A-Za-z0-9_-]{16,}$/.test(state) ? `${SIGN_IN_COOKIE_PREFIX}${state.slice(0, 12)}` : undefined;
}

/** The gateway's own cookies, which the upstream never sees. */
export function isGatewayCookie(name: string): boolean {
  return name.startsWith(GATEWAY_COOKIE_PREFIX);
}

export type SessionLookup =
  | { readonly kind: "active"; readonly id: string; readonly record: SessionRecord }
  | { readonly kind: "forged" }
  | { readonly kind: "ended"; readonly reason: string };

/** What the sign-in stage found for a request that carried a session cookie. */
export const sessionLookups = new WeakMap<RequestContext, SessionLookup>();

/** Paths of the sign-in endpoints, next to the configured callback. */
export interface AuthEndpoints {
  readonly callback: string;
  readonly signIn: string;
  readonly signOut: string;
  /** OpenID Connect Back-Channel Logout (POST from the provider). */
  readonly backchannelLogout: string;
}

export function authEndpoints(session: SessionAuthConfig): AuthEndpoints {
  const callback = new URL(session.redirectUrl).pathname;
  const base = callback.slice(0, callback.lastIndexOf("/") + 1);
  return {
    callback,
    signIn: `${base}signin`,
    signOut: `${base}signout`,
    backchannelLogout: `${base}backchannel-logout`,
  };
}

/** A top-level navigation of a browser, as opposed to fetch/XHR or a non-browser client. */
export function isNavigation(ctx: RequestContext): boolean {
  if (ctx.method !== "GET" && ctx.method !== "HEAD") return false;
  const headers = ctx.req.headers;
  const mode = headers["sec-fetch-mode"];
  if (typeof mode === "string") return mode === "navigate";
  const accept = headers.accept;
  return typeof accept === "string" && accept.includes("text/html");
}

const AUTHORIZATION: ReadonlySet<string> = new Set(["authorization"]);

export function sessionMethod(session: SessionAuthConfig): CredentialMethod {
  const endpoints = authEndpoints(session);
  const tokenHeader = session.accessTokenHeader?.toLowerCase();
  return {
    name: "session",
    authenticate: function authenticateSession(ctx) {
      const lookup = sessionLookups.get(ctx);
      if (lookup === undefined || lookup.kind === "ended") return undefined;
      if (lookup.kind === "forged") return { ok: false, reason: "session cookie signature invalid" };
      const { record } = lookup;
      // A session from another provider or client proves nothing here: sign in to this one.
      if (record.issuer !== session.issuer || record.clientId !== session.clientId) return undefined;
      if (tokenHeader !== undefined && record.accessToken !== undefined) {
        if (tokenHeader === "authorization") {
          // The session's token replaces whatever the browser sent.
          stripRequestHeaders(ctx.req, AUTHORIZATION);
          ctx.upstreamHeaders.authorization = `Bearer ${record.accessToken}`;
        } else ctx.upstreamHeaders[tokenHeader] = record.accessToken;
      }
      return {
        ok: true,
        identity: { subject: record.subject, method: "session", claims: record.claims },
      };
    },
    onMissing: function sendToSignIn(ctx): Reply | undefined {
      if (!isNavigation(ctx)) return undefined;
      const returnTo = encodeURIComponent(ctx.path + ctx.query);
      return {
        status: 302,
        headers: { location: `${endpoints.signIn}?rd=${returnTo}`, "cache-control": "no-store" },
      };
    },
  };
}
