/**
 * Bad sign-in configuration is refused with a clear, positioned problem (schema level; the
 * fail-closed rules have their cases in test/unit/config/load.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, validateConfig } from "../../../../src/config/load.js";

const ENV = { SESSION_SECRET: "0123456789abcdef0123456789abcdef", CLIENT_SECRET: "client-secret" };

function config(
  session: Record<string, unknown>,
  sessions: Record<string, unknown> = { secret: "${env:SESSION_SECRET}" },
) {
  return {
    upstreams: { app: { targets: ["http://127.0.0.1:3000"] } },
    server: { sessions },
    routes: [
      {
        upstream: "app",
        auth: {
          session: {
            issuer: "https://idp.example.com",
            clientId: "app",
            clientSecret: "${env:CLIENT_SECRET}",
            redirectUrl: "https://app.example.com/.bulwark/auth/callback",
            ...session,
          },
        },
      },
    ],
  };
}

function problems(raw: object): { path: string; message: string }[] {
  try {
    validateConfig(raw, { source: "test", baseDir: "/", env: ENV });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map((problem) => ({ path: problem.path, message: problem.message }));
  }
  assert.fail("the config was accepted");
}

test("a valid sign-in config resolves with its defaults", () => {
  const resolved = validateConfig(config({}), { source: "test", baseDir: "/", env: ENV });
  const session = resolved.routes[0]!.auth!.session!;
  assert.deepEqual(session.scopes, ["openid", "profile", "email"]);
  assert.equal(session.csrf.header, "X-CSRF-Token");
  assert.equal(session.endSession, true);
  assert.equal(resolved.server.sessions!.idleTimeout, 30 * 60_000);
  assert.equal(resolved.server.sessions!.absoluteTimeout, 12 * 3_600_000);
  assert.equal(resolved.server.sessions!.store.type, "memory");
});

test("a plaintext provider on a public host is refused", () => {
  const found = problems(config({ issuer: "http://idp.example.com" }));
  assert.deepEqual(found, [
    {
      path: "routes[0].auth.session.issuer",
      message: "expected an https:// URL (http:// only on a loopback host)",
    },
  ]);
});

test("scopes without openid, a bad trusted origin and an unknown key are each reported", () => {
  const found = problems(
    config({
      scopes: ["profile"],
      csrf: { trustedOrigins: ["https://a.example.com/path"] },
      clientSecrets: "x",
    }),
  );
  const paths = found.map((problem) => problem.path).sort();
  assert.deepEqual(paths, [
    "routes[0].auth.session.clientSecrets",
    "routes[0].auth.session.csrf.trustedOrigins[0]",
    "routes[0].auth.session.scopes",
  ]);
  assert.match(found.find((p) => p.path.endsWith("scopes"))!.message, /openid/);
});

test("an empty client id is refused at its key path", () => {
  const found = problems(config({ clientId: "" }));
  assert.deepEqual(
    found.map((problem) => problem.path),
    ["routes[0].auth.session.clientId"],
  );
});

test("a secret written in clear in the file is refused", () => {
  const found = problems(config({}, { secret: "0123456789abcdef0123456789abcdef-literal" }));
  assert.deepEqual(
    found.map((problem) => problem.path),
    ["server.sessions.secret"],
  );
  assert.match(found[0]!.message, /literal/);
});

test("a client secret written in clear in the file is refused", () => {
  const found = problems(config({ clientSecret: "in-clear" }));
  assert.deepEqual(
    found.map((problem) => problem.path),
    ["routes[0].auth.session.clientSecret"],
  );
});

test("a short secret never appears in the error", () => {
  try {
    validateConfig(config({}, { secret: "${env:SESSION_SECRET}" }), {
      source: "test",
      baseDir: "/",
      env: { ...ENV, SESSION_SECRET: "tiny-secret-value" },
    });
    assert.fail("accepted");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    const text = JSON.stringify(error.problems);
    assert.match(text, /session-secret-short/);
    assert.doesNotMatch(text, /tiny-secret-value/);
  }
});

test("accessTokenHeader takes a header of its own, never one HTTP or the gateway sets", () => {
  for (const header of ["Cookie", "host", "X-Request-Id", "Content-Length", "Forwarded"]) {
    assert.deepEqual(problems(config({ accessTokenHeader: header })), [
      {
        path: "routes[0].auth.session.accessTokenHeader",
        message: "expected a header of its own, not one the gateway or HTTP itself sets",
      },
    ]);
  }
  assert.deepEqual(problems(config({ accessTokenHeader: "X Token" })), [
    {
      path: "routes[0].auth.session.accessTokenHeader",
      message: "expected an HTTP header name (RFC 9110 token)",
    },
  ]);
  for (const header of ["X-Forwarded-Access-Token", "Authorization"]) {
    const resolved = validateConfig(config({ accessTokenHeader: header }), {
      source: "test",
      baseDir: "/",
      env: ENV,
    });
    assert.equal(resolved.routes[0]!.auth!.session!.accessTokenHeader, header);
  }
});
