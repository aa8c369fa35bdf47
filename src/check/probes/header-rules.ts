/**
 * Response-header rules, after the MDN HTTP Observatory's tests: CSP, HSTS, X-Content-Type-Options,
 * frame protection, Referrer-Policy, Permissions-Policy and the Cross-Origin-*-Policy headers.
 * Pure functions over one response, so they are unit-tested without a server.
 */
import { type Finding, finding, type Strength, strength } from "../findings.js";
import { judgeCsp, parseCsp } from "./csp.js";
import type { ProbeResponse } from "./http-client.js";

/** The Observatory's minimum HSTS max-age: six months. */
export const HSTS_MIN_SECONDS = 15_552_000;
const ONE_YEAR = 31_536_000;

const UNSAFE_REFERRER = new Set([
  "unsafe-url",
  "no-referrer-when-downgrade",
  "origin-when-cross-origin",
  "origin",
]);
const REFERRER_VALUES = new Set([
  "no-referrer",
  "no-referrer-when-downgrade",
  "origin",
  "origin-when-cross-origin",
  "same-origin",
  "strict-origin",
  "strict-origin-when-cross-origin",
  "unsafe-url",
]);

export function headerRules(
  response: ProbeResponse,
  secure: boolean,
): { findings: Finding[]; strengths: Strength[] } {
  const findings: Finding[] = [];
  const strengths: Strength[] = [];
  const location = response.url;
  const h = response.headers;
  const add = (id: string, evidence: string) => findings.push(finding(id, { evidence, location }));

  const csp = h["content-security-policy"];
  if (csp === undefined) {
    add("hdr-csp-missing", "no Content-Security-Policy header");
  } else {
    const verdict = judgeCsp(parseCsp(csp));
    if (verdict.unsafeInline) add("hdr-csp-unsafe-inline", `content-security-policy: ${csp}`);
    if (verdict.unsafeEval) add("hdr-csp-unsafe-eval", `content-security-policy: ${csp}`);
    if (verdict.broadScripts)
      add("hdr-csp-wildcard", `${verdict.broadScripts}; content-security-policy: ${csp}`);
    if (verdict.objectSrcOpen) add("hdr-csp-no-object-src", `content-security-policy: ${csp}`);
    if (!verdict.frameAncestors) add("hdr-csp-no-frame-ancestors", `content-security-policy: ${csp}`);
    if (
      !verdict.unsafeInline &&
      !verdict.unsafeEval &&
      !verdict.broadScripts &&
      !verdict.objectSrcOpen &&
      verdict.frameAncestors
    )
      strengths.push(strength("bonus-csp-strict", 5));
  }

  if (secure) {
    const hsts = h["strict-transport-security"];
    if (hsts === undefined) {
      add("hdr-hsts-missing", "no Strict-Transport-Security header on the HTTPS response");
    } else {
      const maxAge = /max-age\s*=\s*"?(\d+)"?/i.exec(hsts);
      const seconds = maxAge ? Number(maxAge[1]) : 0;
      const subdomains = /includesubdomains/i.test(hsts);
      if (seconds < HSTS_MIN_SECONDS) add("hdr-hsts-short", `strict-transport-security: ${hsts}`);
      if (!subdomains) add("hdr-hsts-no-subdomains", `strict-transport-security: ${hsts}`);
      if (seconds >= ONE_YEAR && subdomains) strengths.push(strength("bonus-hsts-long", 5));
    }
  }

  if ((h["x-content-type-options"] ?? "").trim().toLowerCase() !== "nosniff")
    add(
      "hdr-xcto-missing",
      h["x-content-type-options"]
        ? `x-content-type-options: ${h["x-content-type-options"]}`
        : "no X-Content-Type-Options header",
    );

  const xfo = (h["x-frame-options"] ?? "").trim().toUpperCase();
  const frameAncestors = csp !== undefined && parseCsp(csp).has("frame-ancestors");
  if (!frameAncestors && xfo !== "DENY" && xfo !== "SAMEORIGIN")
    add(
      "hdr-frame-missing",
      xfo
        ? `x-frame-options: ${xfo} (not DENY or SAMEORIGIN)`
        : "no X-Frame-Options and no CSP frame-ancestors",
    );

  const referrer = h["referrer-policy"];
  if (referrer === undefined) {
    add("hdr-referrer-missing", "no Referrer-Policy header");
  } else {
    // Browsers use the last value they understand (Referrer Policy §11.1).
    const values = referrer
      .split(",")
      .map((value) => value.trim().toLowerCase())
      .filter((value) => REFERRER_VALUES.has(value));
    const effective = values[values.length - 1];
    if (effective === undefined || UNSAFE_REFERRER.has(effective))
      add("hdr-referrer-unsafe", `referrer-policy: ${referrer}`);
  }

  if (h["permissions-policy"] === undefined) add("hdr-permissions-missing", "no Permissions-Policy header");
  if (h["cross-origin-opener-policy"] === undefined)
    add("hdr-coop-missing", "no Cross-Origin-Opener-Policy header");
  if (h["cross-origin-resource-policy"] === undefined)
    add("hdr-corp-missing", "no Cross-Origin-Resource-Policy header");
  if (h["cross-origin-embedder-policy"] === undefined)
    add("hdr-coep-missing", "no Cross-Origin-Embedder-Policy header");
  if (h["cross-origin-opener-policy"] !== undefined && h["cross-origin-resource-policy"] !== undefined)
    strengths.push(strength("bonus-cross-origin-isolation", 5));
  return { findings, strengths };
}

export interface ParsedCookie {
  readonly name: string;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite?: string;
  readonly path?: string;
  readonly domain?: string;
}

export function parseSetCookie(header: string): ParsedCookie {
  const [pair, ...attributes] = header.split(";");
  const name = (pair ?? "").split("=")[0]!.trim();
  const attrs = new Map<string, string>();
  for (const attribute of attributes) {
    const [key, ...rest] = attribute.split("=");
    attrs.set((key ?? "").trim().toLowerCase(), rest.join("=").trim());
  }
  return {
    name,
    secure: attrs.has("secure"),
    httpOnly: attrs.has("httponly"),
    ...(attrs.has("samesite") ? { sameSite: attrs.get("samesite")!.toLowerCase() } : {}),
    ...(attrs.has("path") ? { path: attrs.get("path")! } : {}),
    ...(attrs.has("domain") ? { domain: attrs.get("domain")! } : {}),
  };
}

const SESSION_NAME =
  /sess|sid$|^sid|auth|token|jwt|login|remember|user|connect\.sid|jsessionid|phpsessid|aspsessionid|laravel_session|_session$/i;
const CSRF_NAME = /csrf|xsrf/i;

/** Cookie rules over every Set-Cookie seen (values are never reported, only names). */
export function cookieRules(responses: readonly ProbeResponse[]): {
  findings: Finding[];
  strengths: Strength[];
} {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  let hardened = 0;
  let total = 0;
  for (const response of responses) {
    for (const header of response.setCookies) {
      const cookie = parseSetCookie(header);
      if (!cookie.name || seen.has(cookie.name)) continue;
      seen.add(cookie.name);
      total += 1;
      const session = SESSION_NAME.test(cookie.name) && !CSRF_NAME.test(cookie.name);
      const attrs = [
        cookie.secure ? "Secure" : "",
        cookie.httpOnly ? "HttpOnly" : "",
        cookie.sameSite ? `SameSite=${cookie.sameSite}` : "",
      ]
        .filter(Boolean)
        .join("; ");
      const evidence = `cookie ${cookie.name}${attrs ? ` (${attrs})` : " (no attributes)"}`;
      const add = (id: string) => findings.push(finding(id, { evidence, location: response.url }));
      if (!cookie.secure) add("cookie-no-secure");
      if (session && !cookie.httpOnly) add("cookie-no-httponly");
      if (cookie.sameSite === undefined || (cookie.sameSite === "none" && !cookie.secure))
        add("cookie-no-samesite");
      if (session && !cookie.name.startsWith("__Host-")) add("cookie-no-host-prefix");
      if (
        cookie.secure &&
        (cookie.httpOnly || !session) &&
        cookie.sameSite !== undefined &&
        cookie.sameSite !== "none"
      )
        hardened += 1;
    }
  }
  return {
    findings,
    strengths: total > 0 && hardened === total ? [strength("bonus-cookies-hardened", 5)] : [],
  };
}

/** CORS answers to a foreign Origin and to `Origin: null`. */
export function corsRules(
  foreign: ProbeResponse,
  nullOrigin: ProbeResponse,
  foreignOrigin: string,
): Finding[] {
  const findings: Finding[] = [];
  const allowOrigin = (response: ProbeResponse) =>
    (response.headers["access-control-allow-origin"] ?? "").trim();
  const credentials = (response: ProbeResponse) =>
    (response.headers["access-control-allow-credentials"] ?? "").trim().toLowerCase() === "true";
  const evidence = (response: ProbeResponse, origin: string) =>
    `Origin: ${origin} → access-control-allow-origin: ${allowOrigin(response)}${credentials(response) ? ", access-control-allow-credentials: true" : ""}`;
  if (allowOrigin(foreign) === foreignOrigin) {
    findings.push(
      finding(credentials(foreign) ? "cors-reflect-credentials" : "cors-reflect-origin", {
        evidence: evidence(foreign, foreignOrigin),
        location: foreign.url,
      }),
    );
  } else if (allowOrigin(foreign) === "*") {
    findings.push(
      finding("cors-wildcard", { evidence: evidence(foreign, foreignOrigin), location: foreign.url }),
    );
  }
  if (allowOrigin(nullOrigin) === "null")
    findings.push(
      finding("cors-null-origin", { evidence: evidence(nullOrigin, "null"), location: nullOrigin.url }),
    );
  return findings;
}
