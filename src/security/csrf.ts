/**
 * CSRF decisions for cookie-authenticated requests (HTTP-agnostic; the gateway's csrf stage
 * applies them). Safe methods (RFC 9110 §9.2.1) are never checked. An unsafe request passes only
 * when both hold:
 *
 * 1. It comes from an allowed origin. `Origin` (RFC 6454 §7), when sent, must be one of the
 *    allowed origins. Without `Origin`, or with `Origin: null`, `Sec-Fetch-Site` (Fetch
 *    Metadata), when sent, must be `same-origin` or `none` (user-initiated). "null" names no
 *    origin: browsers send it for an HTML form posted from a page whose Referrer-Policy is
 *    `no-referrer` (Fetch §3.1, "serializing a request origin"; the gateway's strict header
 *    profile sets that policy), and also from sandboxed or data: documents. Such a request is
 *    judged like one without Origin: a cross-site one is refused by `Sec-Fetch-Site`, which
 *    pages cannot set, and in browsers too old to send it by the token alone.
 * 2. It carries the session's CSRF token in the configured header (or, for a classic HTML form
 *    post, in a form field: formToken), compared in constant time.
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
  /** The token the request carries in the CSRF header (or form field). */
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
  if (input.origin !== undefined && input.origin !== "null") {
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

/**
 * The token an HTML form post carries in `field` (application/x-www-form-urlencoded, WHATWG URL
 * §5.1). With the field repeated, the first value counts: a page of this site writes one, and a
 * page elsewhere cannot know the token to write at all.
 */
export function formToken(body: string, field: string): string | undefined {
  return new URLSearchParams(body).get(field) ?? undefined;
}

const CRLF = Buffer.from("\r\n");
const HEADERS_END = Buffer.from("\r\n\r\n");
// RFC 7578 §4.2: Content-Disposition: form-data; name="field" (browsers write the name quoted,
// with `"` and line breaks percent-encoded, so a quoted name holds no escapes).
const DISPOSITION_NAME =
  /^content-disposition:\s*form-data\s*;(?:.*;)?\s*name\s*=\s*(?:"([^"]*)"|([^\s;]+))/im;
const DISPOSITION_FILE = /^content-disposition:.*;\s*filename\*?\s*=/im;

/**
 * The token a `multipart/form-data` post (RFC 7578) carries in `field`, found only when that part
 * lies wholly within `body`, which may be just the start of a longer body: forms write their
 * hidden fields before their file inputs, so the token is read without waiting for the files.
 * File parts never count. With the field repeated, the first counts.
 */
export function multipartToken(body: Buffer, boundary: string, field: string): string | undefined {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // RFC 2046 §5.1.1: the first delimiter may open the body (no CRLF before it) or follow a preamble.
  let at = body.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2))
    ? -2
    : body.indexOf(delimiter);
  while (at !== -1) {
    const after = at + delimiter.length;
    // "--" after the delimiter closes the body; anything else up to CRLF is transport padding.
    if (body[after] === 0x2d && body[after + 1] === 0x2d) return undefined;
    const lineEnd = body.indexOf(CRLF, after);
    if (lineEnd === -1) return undefined;
    const headersEnd = body.indexOf(HEADERS_END, lineEnd);
    if (headersEnd === -1) return undefined;
    const next = body.indexOf(delimiter, headersEnd + HEADERS_END.length);
    if (next === -1) return undefined;
    const headers = body.subarray(lineEnd + CRLF.length, headersEnd).toString("latin1");
    const name = DISPOSITION_NAME.exec(headers);
    if (name && (name[1] ?? name[2]) === field && !DISPOSITION_FILE.test(headers)) {
      return body.subarray(headersEnd + HEADERS_END.length, next).toString("utf8");
    }
    at = next;
  }
  return undefined;
}
