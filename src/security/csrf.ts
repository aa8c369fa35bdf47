/**
 * CSRF decisions for cookie-authenticated requests (HTTP-agnostic; the gateway's csrf stage
 * applies them). Safe methods (RFC 9110 §9.2.1) are never checked. An unsafe request passes only
 * when both hold:
 *
 * 1. It comes from an allowed origin. `Origin` (RFC 6454 §7), when sent, must be one of the
 *    allowed origins ("null" never is). Without `Origin`, `Sec-Fetch-Site` (Fetch Metadata),
 *    when sent, must be `same-origin` or `none` (user-initiated).
 * 2. It carries the session's CSRF token in the configured header, compared in constant time.
 *    This is the synchronizer-token pattern (OWASP CSRF cheat sheet): the token is stored in the
 *    server-side session and handed to the page in a readable cookie. Unlike a plain double-submit
 *    cookie, a token written into the browser by a sibling subdomain (cookie tossing) does not
 *    help an attacker, because it is compared with the session's copy, not with the cookie.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ErrorCode } from "../errors.js";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

export interface CsrfInput {
  readonly method: string;
  readonly origin: string | undefined;
  readonly secFetchSite: string | undefined;
  /** The token the request carries in the CSRF header. */
  readonly token: string | undefined;
  /** The session's token. */
  readonly expectedToken: string;
  /** Lower-case serialized origins ("https://app.example.com"). */
  readonly allowedOrigins: ReadonlySet<string>;
}

export type CsrfCode = Extract<
  ErrorCode,
  "csrf_origin_rejected" | "csrf_token_missing" | "csrf_token_invalid"
>;

export type CsrfVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: CsrfCode; readonly reason: string };

export function sameToken(given: string, expected: string): boolean {
  // Digests have equal lengths, so timingSafeEqual never throws and length leaks nothing.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export function checkCsrf(input: CsrfInput): CsrfVerdict {
  if (!isUnsafeMethod(input.method)) return { ok: true };
  if (input.origin !== undefined) {
    if (!input.allowedOrigins.has(input.origin.toLowerCase())) {
      return { ok: false, code: "csrf_origin_rejected", reason: "origin not allowed" };
    }
  } else if (
    input.secFetchSite !== undefined &&
    input.secFetchSite !== "same-origin" &&
    input.secFetchSite !== "none"
  ) {
    return { ok: false, code: "csrf_origin_rejected", reason: `sec-fetch-site ${input.secFetchSite}` };
  }
  if (input.token === undefined || input.token === "") {
    return { ok: false, code: "csrf_token_missing", reason: "no csrf token" };
  }
  if (!sameToken(input.token, input.expectedToken)) {
    return { ok: false, code: "csrf_token_invalid", reason: "csrf token does not match the session" };
  }
  return { ok: true };
}
