import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeCsp, parseCsp } from "../../../src/check/probes/csp.js";
import {
  databaseError,
  directoryListing,
  looksLikeBaseline,
  stackTrace,
} from "../../../src/check/probes/disclosure.js";
import {
  cookieRules,
  corsRules,
  headerRules,
  parseSetCookie,
} from "../../../src/check/probes/header-rules.js";
import type { ProbeResponse } from "../../../src/check/probes/http-client.js";
import { SECURITY_HEADERS } from "../../../src/gateway/header-profiles.js";

function response(
  headers: Record<string, string>,
  options: { setCookies?: string[]; text?: string; status?: number } = {},
): ProbeResponse {
  const body = Buffer.from(options.text ?? "");
  return {
    method: "GET",
    url: "https://app.test/",
    status: options.status ?? 200,
    headers,
    setCookies: options.setCookies ?? [],
    body,
    text: body.toString(),
    truncated: false,
  };
}

const ids = (result: { findings: { id: string }[] }) => result.findings.map((item) => item.id).sort();

describe("CSP judgement", () => {
  it("unsafe-inline counts unless a nonce, hash or strict-dynamic neutralizes it", () => {
    assert.equal(
      judgeCsp(parseCsp("default-src 'self'; script-src 'self' 'unsafe-inline'")).unsafeInline,
      true,
    );
    assert.equal(judgeCsp(parseCsp("script-src 'nonce-abc' 'unsafe-inline'")).unsafeInline, false);
    assert.equal(judgeCsp(parseCsp("default-src 'self' 'unsafe-eval'")).unsafeEval, true);
  });
  it("broad script sources and missing script control", () => {
    assert.match(judgeCsp(parseCsp("default-src *")).broadScripts!, /include \*/);
    assert.match(judgeCsp(parseCsp("script-src https:")).broadScripts!, /https:/);
    assert.match(judgeCsp(parseCsp("img-src 'self'")).broadScripts!, /no script-src or default-src/);
    assert.equal(judgeCsp(parseCsp("default-src 'none'")).objectSrcOpen, false);
    assert.equal(judgeCsp(parseCsp("script-src 'self'")).objectSrcOpen, true);
  });
});

describe("header rules", () => {
  it("every Bulwark header profile passes with bonuses (the gateway's own headers)", () => {
    for (const profile of ["strict", "api", "webapp"] as const) {
      const headers = Object.fromEntries(
        SECURITY_HEADERS.flatMap((spec) =>
          spec.values[profile] ? [[spec.name, spec.values[profile]!]] : [],
        ),
      );
      const result = headerRules(response(headers), true);
      assert.deepEqual(ids(result), ["hdr-coep-missing"], profile);
      assert.deepEqual(result.strengths.map((s) => s.id).sort(), [
        "bonus-cross-origin-isolation",
        "bonus-csp-strict",
        "bonus-hsts-long",
      ]);
    }
  });

  it("a bare response misses the Observatory basics; HSTS only judged on HTTPS", () => {
    assert.deepEqual(ids(headerRules(response({}), false)), [
      "hdr-coep-missing",
      "hdr-coop-missing",
      "hdr-corp-missing",
      "hdr-csp-missing",
      "hdr-frame-missing",
      "hdr-permissions-missing",
      "hdr-referrer-missing",
      "hdr-xcto-missing",
    ]);
    assert.ok(ids(headerRules(response({}), true)).includes("hdr-hsts-missing"));
  });

  it("weak values", () => {
    const result = headerRules(
      response({
        "content-security-policy": "default-src * 'unsafe-inline' 'unsafe-eval'",
        "strict-transport-security": "max-age=3600",
        "x-content-type-options": "sniff",
        "x-frame-options": "ALLOW-FROM https://x",
        "referrer-policy": "no-referrer, unsafe-url",
      }),
      true,
    );
    for (const id of [
      "hdr-csp-unsafe-inline",
      "hdr-csp-unsafe-eval",
      "hdr-csp-wildcard",
      "hdr-csp-no-object-src",
      "hdr-csp-no-frame-ancestors",
      "hdr-hsts-short",
      "hdr-hsts-no-subdomains",
      "hdr-xcto-missing",
      "hdr-frame-missing",
      "hdr-referrer-unsafe",
    ])
      assert.ok(ids(result).includes(id), id);
    assert.deepEqual(result.strengths, []);
  });
});

describe("cookies and CORS", () => {
  it("parses Set-Cookie attributes", () => {
    assert.deepEqual(parseSetCookie("__Host-sid=abc; Path=/; Secure; HttpOnly; SameSite=Strict"), {
      name: "__Host-sid",
      secure: true,
      httpOnly: true,
      sameSite: "strict",
      path: "/",
    });
  });
  it("session cookies need HttpOnly; every cookie needs Secure and SameSite; values never reported", () => {
    const result = cookieRules([
      response({}, { setCookies: ["sessionid=SECRETVALUE; Path=/", "theme=dark; Secure; SameSite=Lax"] }),
    ]);
    assert.deepEqual(ids(result), [
      "cookie-no-host-prefix",
      "cookie-no-httponly",
      "cookie-no-samesite",
      "cookie-no-secure",
    ]);
    assert.ok(result.findings.every((item) => !item.evidence.includes("SECRETVALUE")));
    const good = cookieRules([
      response({}, { setCookies: ["__Host-sid=x; Path=/; Secure; HttpOnly; SameSite=Lax"] }),
    ]);
    assert.deepEqual(ids(good), []);
    assert.deepEqual(
      good.strengths.map((s) => s.id),
      ["bonus-cookies-hardened"],
    );
  });
  it("reflection with credentials is critical; null and * are reported", () => {
    const evil = "https://bulwark-check.invalid";
    const reflect = response({
      "access-control-allow-origin": evil,
      "access-control-allow-credentials": "true",
    });
    const nul = response({ "access-control-allow-origin": "null" });
    assert.deepEqual(
      corsRules(reflect, nul, evil).map((item) => item.id),
      ["cors-reflect-credentials", "cors-null-origin"],
    );
    assert.deepEqual(
      corsRules(response({ "access-control-allow-origin": "*" }), response({}), evil).map((item) => item.id),
      ["cors-wildcard"],
    );
    assert.deepEqual(
      corsRules(response({ "access-control-allow-origin": "https://app.test" }), response({}), evil),
      [],
    );
  });
});

describe("disclosure signatures", () => {
  it("stack traces of common stacks", () => {
    assert.match(stackTrace("Error: boom\n    at handler (/srv/app/server.js:10:5)\n")!, /Node\.js/);
    assert.match(stackTrace("Traceback (most recent call last):\n  File")!, /Python/);
    assert.match(stackTrace("at com.acme.Foo.bar(Foo.java:42)")!, /Java/);
    assert.match(stackTrace("goroutine 1 [running]:\nmain.main()")!, /Go panic/);
    assert.equal(stackTrace("<html>all good, at home</html>"), undefined);
  });
  it("database errors and directory listings", () => {
    assert.match(databaseError('ERROR:  syntax error at or near "\'"')!, /syntax error at or near/);
    assert.match(databaseError("You have an error in your SQL syntax; check the manual")!, /SQL syntax/);
    assert.equal(databaseError("no problem"), undefined);
    assert.equal(directoryListing("<html><head><title>Index of /files/</title></head>"), "Index of /files/");
  });
  it("soft-404 detection compares with the baseline", () => {
    const baseline = {
      ...response({}, { text: "<html>Not here: /bulwark-check-1234</html>" }),
      url: "https://app.test/bulwark-check-1234",
    };
    const soft = { ...response({}, { text: "<html>Not here: /.env</html>" }), url: "https://app.test/.env" };
    assert.equal(looksLikeBaseline(soft, baseline), true);
    assert.equal(looksLikeBaseline(response({}, { text: "DB_PASSWORD=x\nAPI=y\n" }), baseline), false);
    assert.equal(
      looksLikeBaseline(response({}, { text: "<html>Not here: /.env</html>", status: 404 }), baseline),
      false,
    );
  });
});
