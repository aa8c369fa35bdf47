import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateConfig } from "../../../src/config/load.js";
import type { ResolvedConfig, ResolvedRoute } from "../../../src/config/resolve.js";
import { isBulwarkError } from "../../../src/errors.js";
import type { OutgoingHeaders, RequestContext } from "../../../src/gateway/context.js";
import { effectiveHeaderList } from "../../../src/gateway/header-profiles.js";
import type { Stage } from "../../../src/gateway/stage.js";
import { securityHeadersStage } from "../../../src/gateway/stages/security-headers.js";

// ---------------------------------------------------------------------------------------------
// helpers

/** A real route: the config goes through the schema, the fail-closed rules and resolution. */
function configWith(route: Record<string, unknown>, defaults: Record<string, unknown> = {}): ResolvedConfig {
  return validateConfig(
    {
      upstreams: { app: { targets: ["http://127.0.0.1:9"] } },
      routes: [{ upstream: "app", ...route }],
      defaults,
    },
    { source: "test.yaml", baseDir: process.cwd(), env: {} },
  );
}

function routeWith(headers?: Record<string, unknown>): { route: ResolvedRoute; config: ResolvedConfig } {
  const config = configWith(headers === undefined ? {} : { headers });
  return { route: config.routes[0]!, config };
}

function stageFor(headers?: Record<string, unknown>): Stage {
  const { route, config } = routeWith(headers);
  const stage = securityHeadersStage(route, { config });
  assert.ok(stage, "expected a security-headers stage");
  return stage;
}

/** Runs the stage's onResponse on a copy of `upstream` and returns the headers sent to the client. */
function respond(
  stage: Stage,
  upstream: OutgoingHeaders,
  options: { secure?: boolean; fromGateway?: boolean } = {},
): OutgoingHeaders {
  const ctx = { secure: options.secure ?? true, req: { headers: {} } } as unknown as RequestContext;
  const head = { status: 200, headers: { ...upstream }, fromGateway: options.fromGateway ?? false };
  stage.onResponse!(ctx, head);
  return head.headers;
}

const HTML_PAGE: OutgoingHeaders = {
  "content-type": "text/html; charset=utf-8",
  "content-length": "120",
  etag: '"abc"',
};

const PERMISSIONS_POLICY =
  "accelerometer=(), bluetooth=(), browsing-topics=(), camera=(), display-capture=(), geolocation=(), " +
  "gyroscope=(), hid=(), idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), " +
  "screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";

// The specification of each profile, written out independently of src/gateway/header-profiles.ts.
const EXPECTED: Record<"strict" | "api" | "webapp", Record<string, string>> = {
  strict: {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "content-security-policy":
      "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": PERMISSIONS_POLICY,
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
    "cache-control": "no-store",
  },
  api: {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": PERMISSIONS_POLICY,
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
    "cache-control": "no-store",
  },
  webapp: {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "content-security-policy":
      "default-src 'self'; img-src 'self' data: https:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": PERMISSIONS_POLICY,
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-site",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
  },
};

// ---------------------------------------------------------------------------------------------
// The subset of the MDN HTTP Observatory (github.com/mdn/mdn-http-observatory, src/analyzer/tests and
// src/grader) that response headers decide. A plain HTML page over HTTPS without cookies, scripts or
// CORS scores 0 on the cookies, SRI and CORS tests, and 0 on redirection when HTTP redirects to HTTPS
// (the redirectToHttps listener), so those tests are left out.

type Scored = { test: string; result: string; modifier: number };

function headerValues(headers: OutgoingHeaders, name: string): string[] {
  const value = headers[name];
  return value === undefined ? [] : [value].flat();
}

const DANGEROUSLY_BROAD = new Set([
  "ftp:",
  "http:",
  "https:",
  "*",
  "http://*",
  "http://*.*",
  "https://*",
  "https://*.*",
]);
const UNSAFE_INLINE = new Set(["'unsafe-inline'", "data:"]);
const isBroadOrInline = (source: string) => DANGEROUSLY_BROAD.has(source) || UNSAFE_INLINE.has(source);

/** csp.js / cspParser.js, without nonce, hash and strict-dynamic handling (no profile uses them). */
function parseCsp(headers: OutgoingHeaders): Map<string, Set<string>> | "invalid" | null {
  const policies = headerValues(headers, "content-security-policy").flatMap((value) =>
    value.split(",").map((policy) => policy.trim()),
  );
  if (policies.length === 0) return null;
  const csp = new Map<string, Set<string>>();
  for (const policy of policies) {
    if (policy.length < "img-src".length - 1) return "invalid";
    const seen = new Set<string>();
    for (const entry of policy.split(";")) {
      const [rawDirective, ...sources] = entry.trim().split(/\s+/);
      if (!rawDirective) continue;
      const directive = rawDirective.toLowerCase();
      if (seen.has(directive)) return "invalid";
      seen.add(directive);
      const values = sources.map((source) => source.toLowerCase());
      if (values.length === 0 && directive.endsWith("-src")) values.push("'none'");
      csp.set(directive, new Set(values));
    }
  }
  return csp;
}

function scoreCsp(headers: OutgoingHeaders): Scored {
  const csp = parseCsp(headers);
  const test = "content-security-policy";
  if (csp === null) return { test, result: "csp-not-implemented", modifier: -25 };
  if (csp === "invalid") return { test, result: "csp-header-invalid", modifier: -25 };
  const any = new Set(["*"]);
  const scriptSrc = csp.get("script-src") ?? csp.get("default-src") ?? any;
  const objectSrc = csp.get("object-src") ?? csp.get("default-src") ?? any;
  const styleSrc = csp.get("style-src") ?? csp.get("default-src") ?? any;
  const passive = ["img-src", "media-src"].flatMap((d) => [...(csp.get(d) ?? csp.get("default-src") ?? [])]);
  const active = [...csp.entries()]
    .filter(
      ([directive]) => directive !== "img-src" && directive !== "media-src" && directive !== "script-src",
    )
    .flatMap(([, sources]) => [...sources])
    .concat([...scriptSrc]);
  const insecure = (source: string) => source.startsWith("http:") || source.startsWith("ftp:");
  if ([...scriptSrc].some(isBroadOrInline) || [...objectSrc].some((s) => DANGEROUSLY_BROAD.has(s))) {
    return { test, result: "csp-implemented-with-unsafe-inline", modifier: -20 };
  }
  if (active.some(insecure)) return { test, result: "csp-implemented-with-insecure-scheme", modifier: -20 };
  if (scriptSrc.has("'unsafe-eval'") || styleSrc.has("'unsafe-eval'")) {
    return { test, result: "csp-implemented-with-unsafe-eval", modifier: -10 };
  }
  if (passive.some(insecure)) {
    return { test, result: "csp-implemented-with-insecure-scheme-in-passive-content-only", modifier: -10 };
  }
  if ([...styleSrc].some(isBroadOrInline)) {
    return { test, result: "csp-implemented-with-unsafe-inline-in-style-src-only", modifier: 0 };
  }
  const defaultSrc = csp.get("default-src");
  if (defaultSrc?.has("'none'") && defaultSrc.size === 1) {
    return { test, result: "csp-implemented-with-no-unsafe-default-src-none", modifier: 10 };
  }
  return { test, result: "csp-implemented-with-no-unsafe", modifier: 5 };
}

function scoreHsts(headers: OutgoingHeaders): Scored {
  const test = "strict-transport-security";
  const value = headerValues(headers, "strict-transport-security")[0];
  if (value === undefined) return { test, result: "hsts-not-implemented", modifier: -20 };
  if (value.includes(",")) return { test, result: "hsts-header-invalid", modifier: -20 };
  let maxAge: number | null = null;
  for (const parameter of value.split(";").map((p) => p.trim().toLowerCase())) {
    if (parameter.startsWith("max-age=")) maxAge = Number.parseInt(parameter.slice(8), 10);
  }
  if (maxAge === null || Number.isNaN(maxAge)) return { test, result: "hsts-header-invalid", modifier: -20 };
  // 15552000 s: the Observatory's "six months" (it accepts 180 days).
  if (maxAge < 15_552_000)
    return { test, result: "hsts-implemented-max-age-less-than-six-months", modifier: -10 };
  return { test, result: "hsts-implemented-max-age-at-least-six-months", modifier: 0 };
}

function scoreXcto(headers: OutgoingHeaders): Scored {
  const test = "x-content-type-options";
  const value = headerValues(headers, "x-content-type-options")[0];
  if (value === undefined) return { test, result: "x-content-type-options-not-implemented", modifier: -5 };
  if (value.trim().toLowerCase() !== "nosniff")
    return { test, result: "x-content-type-options-header-invalid", modifier: -5 };
  return { test, result: "x-content-type-options-nosniff", modifier: 0 };
}

function scoreXfo(headers: OutgoingHeaders): Scored {
  const test = "x-frame-options";
  const csp = parseCsp(headers);
  if (csp instanceof Map && csp.has("frame-ancestors")) {
    return { test, result: "x-frame-options-implemented-via-csp", modifier: 5 };
  }
  const value = headerValues(headers, "x-frame-options")[0]?.trim().toLowerCase();
  if (value === undefined) return { test, result: "x-frame-options-not-implemented", modifier: -20 };
  if (value === "deny" || value === "sameorigin")
    return { test, result: "x-frame-options-sameorigin-or-deny", modifier: 0 };
  if (value.startsWith("allow-from"))
    return { test, result: "x-frame-options-allow-from-origin", modifier: 0 };
  return { test, result: "x-frame-options-header-invalid", modifier: -20 };
}

function scoreReferrer(headers: OutgoingHeaders): Scored {
  const test = "referrer-policy";
  const good = ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"];
  const bad = ["origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade"];
  const values = headerValues(headers, "referrer-policy");
  if (values.length === 0) return { test, result: "referrer-policy-not-implemented", modifier: 0 };
  const policy = values
    .join(", ")
    .split(",")
    .map((token) => token.trim().toLowerCase())
    .filter((token) => good.includes(token) || bad.includes(token))
    .at(-1);
  if (policy !== undefined && good.includes(policy))
    return { test, result: "referrer-policy-private", modifier: 5 };
  if (policy !== undefined) return { test, result: "referrer-policy-unsafe", modifier: -5 };
  return { test, result: "referrer-policy-header-invalid", modifier: -5 };
}

function scoreCorp(headers: OutgoingHeaders): Scored {
  const test = "cross-origin-resource-policy";
  const value = headerValues(headers, "cross-origin-resource-policy")[0]?.trim().toLowerCase();
  if (value === undefined) return { test, result: "corp-not-implemented", modifier: 0 };
  if (value === "same-origin" || value === "same-site")
    return { test, result: `corp-implemented-with-${value}`, modifier: 10 };
  if (value === "cross-origin") return { test, result: "corp-implemented-with-cross-origin", modifier: 0 };
  return { test, result: "corp-header-invalid", modifier: -5 };
}

/** scanner/index.js and grader.js: bonuses count only when the score without them is at least 90. */
function observatory(headers: OutgoingHeaders): { score: number; grade: string; results: Scored[] } {
  const results = [scoreCsp, scoreHsts, scoreXcto, scoreXfo, scoreReferrer, scoreCorp].map((test) =>
    test(headers),
  );
  const withExtraCredit = 100 + results.reduce((sum, r) => sum + r.modifier, 0);
  const uncurved = 100 + results.reduce((sum, r) => sum + Math.min(r.modifier, 0), 0);
  const score = Math.max(uncurved >= 90 ? withExtraCredit : uncurved, 0);
  const bucket = Math.min(score - (score % 5), 100);
  const chart: [number, string][] = [
    [100, "A+"],
    [90, "A"],
    [85, "A-"],
    [80, "B+"],
    [70, "B"],
    [65, "B-"],
    [60, "C+"],
    [50, "C"],
    [45, "C-"],
    [40, "D+"],
    [30, "D"],
    [25, "D-"],
    [0, "F"],
  ];
  return { score, grade: chart.find(([floor]) => bucket >= floor)![1], results };
}

// ---------------------------------------------------------------------------------------------

describe("security header profiles", () => {
  for (const profile of ["strict", "api", "webapp"] as const) {
    test(`${profile}: sends exactly its header set over HTTPS`, () => {
      const stage = stageFor(profile === "strict" ? undefined : { profile });
      const sent = respond(stage, HTML_PAGE);
      const added = Object.fromEntries(Object.entries(sent).filter(([name]) => !(name in HTML_PAGE)));
      assert.deepEqual(added, EXPECTED[profile]);
      // The upstream's own headers are untouched.
      for (const [name, value] of Object.entries(HTML_PAGE)) assert.equal(sent[name], value);
    });

    test(`${profile}: earns A+ on the Observatory's header tests, with no deduction`, () => {
      const stage = stageFor({ profile });
      const sent = respond(stage, { ...HTML_PAGE, server: "nginx/1.25.3" }, { secure: true });
      const { score, grade, results } = observatory(sent);
      assert.equal(grade, "A+", JSON.stringify(results));
      assert.ok(score >= 100);
      for (const result of results) assert.ok(result.modifier >= 0, `${result.test}: ${result.result}`);
    });
  }

  test("the profile is strict when nothing is configured", () => {
    const { route } = routeWith();
    assert.equal(route.headers.profile, "strict");
    const sent = respond(stageFor(), HTML_PAGE);
    assert.equal(sent["content-security-policy"], EXPECTED.strict["content-security-policy"]);
  });

  test("the Observatory subset has teeth: weak headers lose points", () => {
    // No security header at all: -25 CSP, -20 HSTS, -20 XFO, -5 XCTO.
    assert.deepEqual(
      { score: observatory(HTML_PAGE).score, grade: observatory(HTML_PAGE).grade },
      { score: 30, grade: "D" },
    );
    const strict = respond(stageFor(), HTML_PAGE);
    const cases: [string, OutgoingHeaders, string][] = [
      [
        "unsafe-inline",
        { "content-security-policy": "default-src 'self' 'unsafe-inline'" },
        "csp-implemented-with-unsafe-inline",
      ],
      [
        "unsafe-eval",
        { "content-security-policy": "default-src 'self' 'unsafe-eval'" },
        "csp-implemented-with-unsafe-eval",
      ],
      ["no CSP", { "content-security-policy": [] }, "csp-not-implemented"],
      [
        "short HSTS",
        { "strict-transport-security": "max-age=86400" },
        "hsts-implemented-max-age-less-than-six-months",
      ],
      ["no nosniff", { "x-content-type-options": "sniff" }, "x-content-type-options-header-invalid"],
      ["unsafe referrer", { "referrer-policy": "unsafe-url" }, "referrer-policy-unsafe"],
    ];
    for (const [label, change, expected] of cases) {
      const { results } = observatory({ ...strict, ...change });
      assert.ok(
        results.some((r) => r.result === expected && r.modifier < 0),
        `${label}: ${JSON.stringify(results)}`,
      );
    }
    // Small deductions can hide behind bonuses (the Observatory's extra credit), which is why the
    // profile test also demands that no test deducts; large ones cost the grade.
    assert.notEqual(observatory({ ...strict, ...cases[0]![1] }).grade, "A+");
    const noFraming: OutgoingHeaders = { ...strict, "content-security-policy": "default-src 'self'" };
    delete noFraming["x-frame-options"];
    assert.ok(observatory(noFraming).results.some((r) => r.result === "x-frame-options-not-implemented"));
  });

  test("off adds no header, and needs no stage when banners are kept and nothing is set", () => {
    const { route, config } = routeWith({ profile: "off", stripBanners: false });
    assert.equal(securityHeadersStage(route, { config }), null);
    const stripping = stageFor({ profile: "off" });
    const sent = respond(stripping, { ...HTML_PAGE, server: "Apache/2.4.1", "x-powered-by": "PHP/8.1" });
    assert.deepEqual(sent, HTML_PAGE);
    const setting = stageFor({ profile: "off", stripBanners: false, set: { "X-Robots-Tag": "noindex" } });
    assert.deepEqual(respond(setting, HTML_PAGE), { ...HTML_PAGE, "x-robots-tag": "noindex" });
  });
});

describe("HSTS", () => {
  test("is sent only when the client reached us over HTTPS", () => {
    for (const profile of ["strict", "api", "webapp"]) {
      const stage = stageFor({ profile });
      assert.equal(
        respond(stage, HTML_PAGE, { secure: true })["strict-transport-security"],
        EXPECTED.strict["strict-transport-security"],
      );
      const plain = respond(stage, HTML_PAGE, { secure: false });
      assert.equal(plain["strict-transport-security"], undefined, profile);
      // Everything else is still there.
      assert.equal(
        plain["content-security-policy"],
        EXPECTED[profile as "strict"]["content-security-policy"],
      );
    }
  });

  test("asks for at least two years and covers subdomains, without preload", () => {
    const value = respond(stageFor(), HTML_PAGE)["strict-transport-security"] as string;
    const maxAge = Number(/max-age=(\d+)/.exec(value)?.[1]);
    assert.ok(maxAge >= 2 * 365 * 24 * 3600, value);
    assert.match(value, /includeSubDomains/);
    assert.doesNotMatch(value, /preload/);
  });
});

describe("upstream values", () => {
  const weak: OutgoingHeaders = {
    ...HTML_PAGE,
    "content-security-policy": "default-src * 'unsafe-inline' 'unsafe-eval'",
    "x-frame-options": "ALLOWALL",
    "referrer-policy": "unsafe-url",
    "strict-transport-security": "max-age=60",
    "cross-origin-resource-policy": "cross-origin",
  };

  test("profile headers replace the upstream's", () => {
    const sent = respond(stageFor(), weak);
    for (const name of Object.keys(weak)) {
      if (name in EXPECTED.strict) assert.equal(sent[name], EXPECTED.strict[name], name);
    }
  });

  test("keepUpstream lets the upstream's value win, and fills in the profile's when it sent none", () => {
    const stage = stageFor({ keepUpstream: ["Content-Security-Policy", "referrer-policy"] });
    const sent = respond(stage, weak);
    assert.equal(sent["content-security-policy"], weak["content-security-policy"]);
    assert.equal(sent["referrer-policy"], "unsafe-url");
    assert.equal(sent["x-frame-options"], "DENY", "other headers are still replaced");
    const bare = respond(stage, HTML_PAGE);
    assert.equal(bare["content-security-policy"], EXPECTED.strict["content-security-policy"]);
    assert.equal(bare["referrer-policy"], "no-referrer");
  });

  test("keepUpstream from defaults and the route are merged", () => {
    const config = configWith(
      { headers: { keepUpstream: ["X-Frame-Options"] } },
      { headers: { keepUpstream: ["Referrer-Policy"] } },
    );
    const stage = securityHeadersStage(config.routes[0]!, { config })!;
    const sent = respond(stage, weak);
    assert.equal(sent["x-frame-options"], "ALLOWALL");
    assert.equal(sent["referrer-policy"], "unsafe-url");
    assert.equal(sent["content-security-policy"], EXPECTED.strict["content-security-policy"]);
  });

  test("Cache-Control is a default: the upstream's wins, no-store fills in", () => {
    for (const profile of ["strict", "api"]) {
      const stage = stageFor({ profile });
      assert.equal(
        respond(stage, { ...HTML_PAGE, "cache-control": "public, max-age=60" })["cache-control"],
        "public, max-age=60",
      );
      assert.equal(respond(stage, HTML_PAGE)["cache-control"], "no-store", profile);
    }
    assert.equal(respond(stageFor({ profile: "webapp" }), HTML_PAGE)["cache-control"], undefined);
  });
});

describe("headers.set", () => {
  test("sets and removes last, over the profile, the upstream and keepUpstream", () => {
    const stage = stageFor({
      keepUpstream: ["cross-origin-resource-policy"],
      set: {
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Robots-Tag": "noindex",
        "X-Frame-Options": null,
        "Cache-Control": "private, max-age=5",
        ETag: null,
      },
    });
    const sent = respond(stage, {
      ...HTML_PAGE,
      "cross-origin-resource-policy": "same-site",
      "x-frame-options": "DENY",
    });
    assert.equal(sent["cross-origin-resource-policy"], "cross-origin");
    assert.equal(sent["x-robots-tag"], "noindex");
    assert.equal("x-frame-options" in sent, false);
    assert.equal(sent["cache-control"], "private, max-age=5");
    assert.equal("etag" in sent, false, "null removes upstream headers too");
    assert.equal(sent["content-security-policy"], EXPECTED.strict["content-security-policy"]);
  });

  test("applies on plaintext and on gateway-made answers", () => {
    const stage = stageFor({ set: { "X-Robots-Tag": "noindex", "Content-Security-Policy": null } });
    const sent = respond(
      stage,
      { "content-type": "application/problem+json" },
      { secure: false, fromGateway: true },
    );
    assert.equal(sent["x-robots-tag"], "noindex");
    assert.equal("content-security-policy" in sent, false);
  });

  test("a value that cannot be sent is refused when the route is built", () => {
    const { route, config } = routeWith({ set: { "X-Bad": "a\r\nSet-Cookie: x=1" } });
    assert.throws(
      () => securityHeadersStage(route, { config }),
      (error) => isBulwarkError(error) && error.code === "config_invalid",
    );
  });
});

describe("banners", () => {
  const banners: OutgoingHeaders = {
    server: "Apache/2.4.41 (Ubuntu)",
    "x-powered-by": "Express",
    "x-aspnet-version": "4.0.30319",
    "x-aspnetmvc-version": "5.2",
    "x-runtime": "0.012345",
    "x-version": "1.4.2",
    "x-generator": "Drupal 10 (https://www.drupal.org)",
    "x-drupal-cache": "HIT",
    "x-php-version": "8.1.2",
    "x-sourcefiles": "=?UTF-8?B?QzpcaW5ldHB1Ylx3d3dyb290?=",
  };

  test("are removed from upstream responses, other headers kept", () => {
    const sent = respond(stageFor(), {
      ...HTML_PAGE,
      ...banners,
      "x-varnish": "32770",
      "x-request-id": "abc",
    });
    for (const name of Object.keys(banners)) assert.equal(name in sent, false, name);
    assert.equal(sent["x-varnish"], "32770");
    assert.equal(sent["x-request-id"], "abc");
    assert.equal(sent.etag, HTML_PAGE.etag);
  });

  test("are kept when stripBanners is false", () => {
    const sent = respond(stageFor({ stripBanners: false }), { ...HTML_PAGE, ...banners });
    for (const [name, value] of Object.entries(banners)) assert.equal(sent[name], value, name);
  });

  test("are not looked for on gateway-made answers", () => {
    const sent = respond(
      stageFor(),
      { "content-type": "application/problem+json", server: "bulwark" },
      { fromGateway: true },
    );
    assert.equal(sent.server, "bulwark");
  });

  test("headers.set can put a Server header back", () => {
    const sent = respond(stageFor({ set: { Server: "edge" } }), { ...HTML_PAGE, ...banners });
    assert.equal(sent.server, "edge");
  });
});

describe("effectiveHeaderList (config explain)", () => {
  test("describes what the route does to response headers", () => {
    const { route } = routeWith({
      profile: "api",
      set: { "X-Robots-Tag": "noindex", "X-Frame-Options": null },
    });
    const lines = effectiveHeaderList(route.headers);
    assert.ok(
      lines.includes("strict-transport-security: max-age=63072000; includeSubDomains (https only)"),
      lines.join("\n"),
    );
    assert.ok(lines.includes("cache-control: no-store (unless the upstream sets it)"));
    assert.ok(lines.includes("x-robots-tag: noindex"));
    assert.ok(lines.includes("x-frame-options: removed"));
    assert.ok(!lines.some((line) => line.startsWith("x-frame-options: DENY")));
  });
});
