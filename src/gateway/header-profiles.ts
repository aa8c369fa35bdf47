/**
 * Security header profiles as data: one row per header, one column per profile. The values follow
 * the OWASP Secure Headers Project (https://owasp.org/www-project-secure-headers/, ci/headers_add.json
 * and ci/headers_remove.json) and MDN's practical security guides, and every profile except `off`
 * earns A+ on the MDN HTTP Observatory for an HTML page served over HTTPS (the unit test re-implements
 * the Observatory rules these values rely on).
 *
 * Profiles:
 * - strict (default): a site that loads everything from its own origin and is never framed.
 * - api: responses that are data, never documents; nothing may load, nothing may frame, nothing is cached.
 * - webapp: a browser application that frames itself, shows images from anywhere over HTTPS and
 *   sends its origin (not the path) as referrer; caching is left to the upstream.
 * - off: no profile headers (banner stripping and `headers.set` still apply).
 */
import type { EffectiveHeaders, HeaderProfileName } from "../config/resolve.js";

export type ActiveProfile = Exclude<HeaderProfileName, "off">;

export interface HeaderSpec {
  /** Lower-case header name. */
  readonly name: string;
  /**
   * replace: the profile's value replaces the upstream's (unless the route lists the header in
   * keepUpstream). default: sent only when the upstream sent none.
   */
  readonly mode: "replace" | "default";
  /** Sent only when the client reached Bulwark over HTTPS. */
  readonly secureOnly: boolean;
  /** The value per profile; a profile without an entry does not send the header. */
  readonly values: Readonly<Partial<Record<ActiveProfile, string>>>;
}

// Powerful or privacy-sensitive browser features that a page behind a gateway rarely needs; a route
// that does use one re-enables it with headers.set. Only names that browsers recognize are listed
// (unknown names log console warnings), and features ordinary pages rely on (fullscreen, autoplay,
// clipboard, WebAuthn's publickey-credentials-*) are left at their defaults.
// https://developer.mozilla.org/docs/Web/HTTP/Reference/Headers/Permissions-Policy
const DENIED_FEATURES = [
  "accelerometer",
  "bluetooth",
  "browsing-topics",
  "camera",
  "display-capture",
  "geolocation",
  "gyroscope",
  "hid",
  "idle-detection",
  "magnetometer",
  "microphone",
  "midi",
  "payment",
  "screen-wake-lock",
  "serial",
  "usb",
  "xr-spatial-tracking",
];
const PERMISSIONS_POLICY = DENIED_FEATURES.map((feature) => `${feature}=()`).join(", ");

export const SECURITY_HEADERS: readonly HeaderSpec[] = [
  {
    // Two years with includeSubDomains, the value hstspreload.org asks for and above the Observatory's
    // six-month floor (15552000 s). No `preload`: submitting a domain to browser preload lists is a
    // commitment its owner makes, not a gateway default. Sent over HTTPS only: RFC 6797 §7.2 forbids
    // it on plaintext responses, and browsers ignore it there.
    name: "strict-transport-security",
    mode: "replace",
    secureOnly: true,
    values: {
      strict: "max-age=63072000; includeSubDomains",
      api: "max-age=63072000; includeSubDomains",
      webapp: "max-age=63072000; includeSubDomains",
    },
  },
  {
    // The main defence against XSS and injected content (OWASP, MDN CSP guide). None of the policies
    // allows 'unsafe-inline', 'unsafe-eval', data: scripts or broad schemes in script-src/object-src,
    // which the Observatory penalizes. object-src and base-uri are set explicitly because base-uri and
    // form-action do not fall back to default-src; frame-ancestors replaces X-Frame-Options in current
    // browsers and earns the Observatory's "XFO via CSP" credit.
    // api: default-src 'none', since an API response is never a document that loads anything
    // (Observatory's best CSP result). webapp: images from any HTTPS origin and data: URIs, which the
    // Observatory treats as passive content and does not penalize; framing by its own origin only.
    name: "content-security-policy",
    mode: "replace",
    secureOnly: false,
    values: {
      strict:
        "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
      api: "default-src 'none'; frame-ancestors 'none'",
      webapp:
        "default-src 'self'; img-src 'self' data: https:; object-src 'none'; base-uri 'self'; " +
        "form-action 'self'; frame-ancestors 'self'",
    },
  },
  {
    // Stops browsers from sniffing a response into an executable type (MIME confusion); the Observatory
    // deducts 5 without it.
    name: "x-content-type-options",
    mode: "replace",
    secureOnly: false,
    values: { strict: "nosniff", api: "nosniff", webapp: "nosniff" },
  },
  {
    // Clickjacking defence for browsers that predate CSP frame-ancestors; kept in step with the CSP's
    // frame-ancestors (the Observatory deducts 20 when neither is present).
    name: "x-frame-options",
    mode: "replace",
    secureOnly: false,
    values: { strict: "DENY", api: "DENY", webapp: "SAMEORIGIN" },
  },
  {
    // OWASP recommends no-referrer; webapp uses strict-origin-when-cross-origin (MDN's minimum) because
    // analytics and OAuth flows of browser applications often need the origin. Both are "private"
    // values for the Observatory (+5).
    name: "referrer-policy",
    mode: "replace",
    secureOnly: false,
    values: { strict: "no-referrer", api: "no-referrer", webapp: "strict-origin-when-cross-origin" },
  },
  {
    // Denies powerful features to the page and every frame it embeds (OWASP recommends denying
    // everything unused).
    name: "permissions-policy",
    mode: "replace",
    secureOnly: false,
    values: { strict: PERMISSIONS_POLICY, api: PERMISSIONS_POLICY, webapp: PERMISSIONS_POLICY },
  },
  {
    // Puts the document in its own browsing context group, so a cross-origin window it opens (or that
    // opens it) cannot reach it through window.opener: XS-Leaks and Spectre-style attacks (OWASP, MDN).
    name: "cross-origin-opener-policy",
    mode: "replace",
    secureOnly: false,
    values: { strict: "same-origin", api: "same-origin", webapp: "same-origin" },
  },
  {
    // Refuses no-cors loads of the response by other origins (webapp: other sites), which keeps it out of
    // attacker-controlled processes (Spectre) and scores +10 on the Observatory. CORS requests are not
    // affected, so a CORS-enabled API keeps working.
    name: "cross-origin-resource-policy",
    mode: "replace",
    secureOnly: false,
    values: { strict: "same-origin", api: "same-origin", webapp: "same-site" },
  },
  {
    // Forbids Adobe Flash/Acrobat cross-domain policy files from granting other sites access (OWASP).
    name: "x-permitted-cross-domain-policies",
    mode: "replace",
    secureOnly: false,
    values: { strict: "none", api: "none", webapp: "none" },
  },
  {
    // The XSS auditor is gone from current browsers and, where it remains, its filtering can be abused
    // to leak or break pages; OWASP recommends switching it off explicitly rather than enabling it.
    name: "x-xss-protection",
    mode: "replace",
    secureOnly: false,
    values: { strict: "0", api: "0", webapp: "0" },
  },
  {
    // Keeps responses that may carry personal data out of shared and browser caches (OWASP). A default,
    // not a replacement: an upstream that chose its own caching (static assets, ETags) knows better.
    // webapp leaves caching entirely to the upstream.
    name: "cache-control",
    mode: "default",
    secureOnly: false,
    values: { strict: "no-store", api: "no-store" },
  },
  // Not sent, on purpose:
  // - Cross-Origin-Embedder-Policy: require-corp breaks every cross-origin subresource without CORP or
  //   CORS; it buys cross-origin isolation, which an application opts into with headers.set.
  // - Clear-Site-Data: belongs on a logout response only.
  // - Expect-CT, Public-Key-Pins, Feature-Policy: obsolete.
];

/**
 * Upstream response headers removed when stripBanners is on (the default). Each names software,
 * versions, internal hosts or timings, which help an attacker pick exploits and serve no client;
 * the list draws on OWASP's ci/headers_remove.json. Header names are lower-case.
 */
export const BANNER_HEADERS: ReadonlyMap<string, string> = new Map([
  ["server", "web server product and often its version"],
  ["x-powered-by", "framework and version (Express, PHP, ASP.NET)"],
  ["powered-by", "non-standard spelling of X-Powered-By"],
  ["x-powered-by-plesk", "hosting panel"],
  ["x-powered-cms", "content management system"],
  ["x-cf-powered-by", "ColdFusion version"],
  ["x-server-powered-by", "server product"],
  ["x-aspnet-version", "exact .NET runtime version"],
  ["x-aspnetmvc-version", "exact ASP.NET MVC version"],
  ["x-php-version", "exact PHP version"],
  [
    "x-runtime",
    "server processing time (Rails/Rack): a timing oracle for user enumeration, and names the framework",
  ],
  ["x-version", "application version"],
  ["x-generator", "CMS and version (Drupal, WordPress plugins)"],
  ["x-generated-by", "generator product"],
  ["x-drupal-cache", "names Drupal; its cache state is of no use to clients"],
  ["x-drupal-dynamic-cache", "names Drupal; its cache state is of no use to clients"],
  ["x-redirect-by", "names the CMS that redirected (WordPress)"],
  ["x-turbo-charged-by", "hosting product (LiteSpeed)"],
  ["x-mod-pagespeed", "mod_pagespeed version"],
  ["x-page-speed", "ngx_pagespeed version"],
  ["x-owa-version", "Outlook Web Access build"],
  ["x-umbraco-version", "Umbraco version"],
  ["x-cocoon-version", "Apache Cocoon version"],
  ["liferay-portal", "Liferay product and build"],
  ["x-sourcefiles", "IIS Express debug header: base64 of the physical file path"],
  ["sourcemap", "points at source maps, which reveal the original source"],
  ["x-sourcemap", "deprecated spelling of SourceMap"],
  ["x-backend-server", "internal host name of the upstream"],
  ["x-beserver", "Exchange back-end server name"],
  ["x-feserver", "Exchange front-end server name"],
  ["x-calculatedbetarget", "Exchange internal target host"],
  ["x-diaginfo", "Exchange internal diagnostics"],
  [
    "x-envoy-upstream-service-time",
    "upstream timing from an internal Envoy: timing oracle, reveals the mesh",
  ],
  ["x-varnish-backend", "internal Varnish backend name"],
  ["x-varnish-server", "internal Varnish host"],
  // Not removed: X-Varnish (a transaction id operators correlate in logs, no version) and tracing
  // headers such as X-B3-* (correlation, handled by the trace-context stage).
]);

/** The profile's rows, in table order. */
export function profileHeaders(profile: HeaderProfileName): readonly { spec: HeaderSpec; value: string }[] {
  if (profile === "off") return [];
  return SECURITY_HEADERS.flatMap((spec) => {
    const value = spec.values[profile];
    return value === undefined ? [] : [{ spec, value }];
  });
}

export interface PlannedHeader {
  readonly name: string;
  readonly value: string;
  /** False when a value already on the response (the upstream's) must be kept. */
  readonly overwrite: boolean;
  readonly secureOnly: boolean;
}

export interface HeaderPlan {
  /** Headers to write on responses to HTTPS clients, in order; headers.set entries last. */
  readonly onSecure: readonly PlannedHeader[];
  /** The same without the HTTPS-only ones. */
  readonly onPlaintext: readonly PlannedHeader[];
  /** Lower-case names headers.set removes (null values). */
  readonly removals: readonly string[];
}

/**
 * A route's header policy resolved against its profile: profile rows (replace, or default when the
 * upstream sent none or the name is in keepUpstream), then headers.set (a value sets, null removes).
 */
export function planHeaders(headers: EffectiveHeaders): HeaderPlan {
  const keep = new Set(headers.keepUpstream.map((name) => name.toLowerCase()));
  const setHeaders: PlannedHeader[] = [];
  const removals: string[] = [];
  for (const [rawName, value] of Object.entries(headers.set)) {
    const name = rawName.toLowerCase();
    if (value === null) removals.push(name);
    else setHeaders.push({ name, value, overwrite: true, secureOnly: false });
  }
  const overridden = new Set([...setHeaders.map((header) => header.name), ...removals]);
  const onSecure: PlannedHeader[] = [];
  for (const { spec, value } of profileHeaders(headers.profile)) {
    if (overridden.has(spec.name)) continue;
    const overwrite = spec.mode === "replace" && !keep.has(spec.name);
    onSecure.push({ name: spec.name, value, overwrite, secureOnly: spec.secureOnly });
  }
  onSecure.push(...setHeaders);
  return { onSecure, onPlaintext: onSecure.filter((header) => !header.secureOnly), removals };
}

/** Human-readable lines for `bulwark config explain`: what the route does to response headers. */
export function effectiveHeaderList(headers: EffectiveHeaders): string[] {
  const plan = planHeaders(headers);
  const lines = plan.onSecure.map((header) => {
    const notes = [
      ...(header.secureOnly ? ["https only"] : []),
      ...(header.overwrite ? [] : ["unless the upstream sets it"]),
    ];
    return `${header.name}: ${header.value}${notes.length > 0 ? ` (${notes.join(", ")})` : ""}`;
  });
  return [...lines, ...plan.removals.map((name) => `${name}: removed`)];
}
