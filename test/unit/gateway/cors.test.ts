import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateConfig } from "../../../src/config/load.js";
import type { ResolvedConfig, ResolvedRoute } from "../../../src/config/resolve.js";
import { isBulwarkError } from "../../../src/errors.js";
import type { OutgoingHeaders, RequestContext } from "../../../src/gateway/context.js";
import { buildChain, runRequestStages, runResponseStages } from "../../../src/gateway/pipeline.js";
import type { Reply, ResponseHead, Stage } from "../../../src/gateway/stage.js";
import { corsStage } from "../../../src/gateway/stages/cors.js";

// ---------------------------------------------------------------------------------------------
// helpers

/** A real route: the config goes through the schema, the fail-closed rules and resolution. */
function configWith(cors: unknown, defaults: Record<string, unknown> = {}): ResolvedConfig {
  return validateConfig(
    {
      upstreams: { app: { targets: ["http://127.0.0.1:9"] } },
      routes: [{ upstream: "app", ...(cors === undefined ? {} : { cors }) }],
      defaults,
    },
    { source: "test.yaml", baseDir: process.cwd(), env: {} },
  );
}

function stageFor(cors: Record<string, unknown>): Stage {
  const config = configWith(cors);
  const stage = corsStage(config.routes[0]!, { config });
  assert.ok(stage, "expected a cors stage");
  return stage;
}

function contextFor(method: string, headers: Record<string, string>): RequestContext {
  return {
    method,
    secure: true,
    req: { headers },
    upstreamHeaders: {},
    requestId: "req-12345678",
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: "01",
  } as unknown as RequestContext;
}

function preflight(
  stage: Stage,
  origin: string,
  method: string,
  requestHeaders?: string,
  extra: Record<string, string> = {},
): Reply | undefined {
  const headers: Record<string, string> = { origin, "access-control-request-method": method, ...extra };
  if (requestHeaders !== undefined) headers["access-control-request-headers"] = requestHeaders;
  return stage.onRequest!(contextFor("OPTIONS", headers)) as Reply | undefined;
}

/** An actual (non-preflight) request: onRequest lets it through, onResponse adjusts the upstream's headers. */
function actual(
  stage: Stage,
  origin: string | undefined,
  upstream: OutgoingHeaders = { "content-type": "application/json" },
  options: { method?: string; fromGateway?: boolean } = {},
): OutgoingHeaders {
  const ctx = contextFor(options.method ?? "GET", origin === undefined ? {} : { origin });
  assert.equal(stage.onRequest!(ctx), undefined, "an actual request goes to the upstream");
  const head: ResponseHead = {
    status: 200,
    headers: { ...upstream },
    fromGateway: options.fromGateway ?? false,
  };
  stage.onResponse!(ctx, head);
  return head.headers;
}

function corsHeadersOf(headers: OutgoingHeaders | undefined): string[] {
  return Object.keys(headers ?? {}).filter((name) => name.startsWith("access-control-"));
}

function assertRejected(reply: Reply | undefined, detail: string): void {
  assert.ok(reply, "expected an answer at the gateway");
  assert.equal(reply.status, 403);
  assert.equal(reply.problem?.code, "cors_rejected");
  assert.equal(reply.problem?.detail, detail);
  assert.deepEqual(corsHeadersOf(reply.headers), [], "a refusal carries no CORS allow headers");
}

const APP = "https://app.example.com";

// ---------------------------------------------------------------------------------------------

describe("cors stage", () => {
  test("is absent when the route has no CORS policy", () => {
    for (const cors of [undefined, false]) {
      const config = configWith(cors);
      assert.equal(corsStage(config.routes[0]!, { config }), null);
    }
  });

  test("a route's cors: false turns off the defaults' policy", () => {
    const config = validateConfig(
      {
        upstreams: { app: { targets: ["http://127.0.0.1:9"] } },
        routes: [
          { upstream: "app", cors: false },
          { upstream: "app", match: { pathPrefix: "/api" } },
        ],
        defaults: { cors: { origins: [APP] } },
      },
      { source: "test.yaml", baseDir: process.cwd(), env: {} },
    );
    assert.equal(corsStage(config.routes[0]!, { config }), null);
    assert.ok(corsStage(config.routes[1]!, { config }));
  });

  test("refuses a hand-built route that allows any origin with credentials", () => {
    const config = configWith({ origins: [APP] });
    const route: ResolvedRoute = {
      ...config.routes[0]!,
      cors: { ...config.routes[0]!.cors!, origins: ["*"], credentials: true },
    };
    assert.throws(
      () => corsStage(route, { config }),
      (error) => isBulwarkError(error) && error.code === "config_invalid",
    );
  });
});

describe("actual requests", () => {
  test("an allowed exact origin is echoed, with Vary: Origin and exposed headers", () => {
    const stage = stageFor({ origins: [APP], exposeHeaders: ["X-Request-Id", "ETag"] });
    const sent = actual(stage, APP);
    assert.equal(sent["access-control-allow-origin"], APP);
    assert.equal(sent["access-control-expose-headers"], "X-Request-Id, ETag");
    assert.equal(sent.vary, "Origin");
    assert.equal(sent["access-control-allow-credentials"], undefined);
    assert.equal(sent["content-type"], "application/json");
  });

  test("credentials: the exact origin (never *) and Allow-Credentials", () => {
    const stage = stageFor({ origins: [APP, "https://admin.example.com"], credentials: true });
    const sent = actual(stage, "https://admin.example.com");
    assert.equal(sent["access-control-allow-origin"], "https://admin.example.com");
    assert.equal(sent["access-control-allow-credentials"], "true");
    assert.equal(sent["access-control-expose-headers"], undefined, "nothing exposed unless configured");
  });

  test('"*" without credentials sends the literal *, never the origin', () => {
    const stage = stageFor({ origins: ["*"] });
    const sent = actual(stage, "https://anyone.example.net");
    assert.equal(sent["access-control-allow-origin"], "*");
    assert.equal(sent["access-control-allow-credentials"], undefined);
  });

  test("an arbitrary origin is never reflected, and the upstream's reflection is stripped", () => {
    const stage = stageFor({ origins: [APP], credentials: true });
    const evil = "https://evil.example.org";
    const reflecting: OutgoingHeaders = {
      "content-type": "application/json",
      "access-control-allow-origin": evil,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, POST, DELETE",
      "access-control-allow-headers": "*",
      "access-control-expose-headers": "*",
      "access-control-max-age": "86400",
    };
    const sent = actual(stage, evil, reflecting);
    assert.deepEqual(corsHeadersOf(sent), []);
    assert.equal(sent.vary, "Origin");
    assert.equal(sent["content-type"], "application/json");
  });

  test("for an allowed origin the gateway's values replace the upstream's", () => {
    const stage = stageFor({ origins: [APP] });
    const sent = actual(stage, APP, {
      "access-control-allow-origin": "*",
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": "set-cookie",
    });
    assert.equal(sent["access-control-allow-origin"], APP);
    assert.equal(sent["access-control-allow-credentials"], undefined, "credentials are not configured");
    assert.equal(sent["access-control-expose-headers"], undefined);
  });

  test("a request without Origin gets no CORS headers but still Vary: Origin", () => {
    const stage = stageFor({ origins: [APP] });
    const sent = actual(stage, undefined, { "access-control-allow-origin": "*" });
    assert.deepEqual(corsHeadersOf(sent), []);
    assert.equal(sent.vary, "Origin");
  });

  test('"null" is refused, even when any origin is allowed', () => {
    for (const origins of [["*"], [APP]]) {
      const stage = stageFor({ origins });
      assert.deepEqual(corsHeadersOf(actual(stage, "null")), [], JSON.stringify(origins));
      assertRejected(preflight(stage, "null", "GET"), "origin not allowed");
    }
  });

  test("Vary is merged, never duplicated", () => {
    const stage = stageFor({ origins: [APP] });
    assert.equal(actual(stage, APP, { vary: "Accept-Encoding" }).vary, "Accept-Encoding, Origin");
    assert.equal(actual(stage, APP, { vary: "accept-encoding, origin" }).vary, "accept-encoding, origin");
    assert.equal(actual(stage, APP, { vary: "ORIGIN" }).vary, "ORIGIN");
    assert.equal(actual(stage, APP, { vary: "*" }).vary, "*");
    assert.equal(
      actual(stage, APP, { vary: ["Accept", "Accept-Language"] }).vary,
      "Accept, Accept-Language, Origin",
    );
    assert.deepEqual(actual(stage, APP, { vary: ["Accept", "Origin"] }).vary, ["Accept", "Origin"]);
    assert.equal(actual(stage, "https://other.example.org", { vary: "Cookie" }).vary, "Cookie, Origin");
  });

  test("gateway-made answers (errors) carry CORS headers, so the page can read them", () => {
    const stage = stageFor({ origins: [APP] });
    const sent = actual(
      stage,
      APP,
      { "content-type": "application/problem+json" },
      { method: "POST", fromGateway: true },
    );
    assert.equal(sent["access-control-allow-origin"], APP);
  });
});

describe("origin patterns", () => {
  const stage = stageFor({ origins: ["https://*.example.com"], methods: ["GET", "PUT"] });

  test("a subdomain pattern allows one or more labels under the parent", () => {
    for (const origin of ["https://a.example.com", "https://a.b.example.com", "https://A.Example.com"]) {
      assert.equal(actual(stage, origin)["access-control-allow-origin"], origin, origin);
      assert.equal(preflight(stage, origin, "PUT")?.status, 204, origin);
    }
  });

  test("and refuses the parent, look-alikes, another scheme and another port", () => {
    for (const origin of [
      "https://example.com",
      "https://evil-example.com",
      "https://aexample.com",
      "https://a.example.com.evil.org",
      "https://a.example.co",
      "http://a.example.com",
      "https://a.example.com:8443",
      "https://a.example.com/",
      "https://*.example.com",
      "null",
    ]) {
      assert.deepEqual(corsHeadersOf(actual(stage, origin)), [], origin);
      assertRejected(preflight(stage, origin, "PUT"), "origin not allowed");
    }
  });

  test("an exact origin matches its scheme, host and port only", () => {
    const exact = stageFor({ origins: ["https://app.example.com:8443"] });
    assert.equal(
      actual(exact, "https://app.example.com:8443")["access-control-allow-origin"],
      "https://app.example.com:8443",
    );
    for (const origin of [
      "https://app.example.com",
      "http://app.example.com:8443",
      "https://app.example.com:8444",
    ]) {
      assert.deepEqual(corsHeadersOf(actual(exact, origin)), [], origin);
    }
  });
});

describe("preflight", () => {
  const policy = {
    origins: [APP],
    methods: ["GET", "POST", "PUT"],
    allowHeaders: ["Authorization", "X-Requested-With"],
    credentials: true,
    maxAge: "1h",
  };

  test("an allowed preflight is answered 204 at the gateway with the full policy", () => {
    const reply = preflight(stageFor(policy), APP, "PUT", "authorization, x-requested-with, content-type");
    assert.ok(reply);
    assert.equal(reply.status, 204);
    assert.equal(reply.problem, undefined);
    assert.deepEqual(reply.headers, {
      "access-control-allow-origin": APP,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, POST, PUT",
      "access-control-allow-headers":
        "Authorization, X-Requested-With, accept, accept-language, content-language, content-type, range",
      "access-control-max-age": "3600",
      vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    });
  });

  test("Max-Age is in seconds, 600 by default", () => {
    const reply = preflight(stageFor({ origins: [APP] }), APP, "GET");
    assert.equal(reply?.headers?.["access-control-max-age"], "600");
  });

  test("requested header names match case-insensitively; safelisted ones need not be listed", () => {
    const stage = stageFor(policy);
    assert.equal(preflight(stage, APP, "POST", "X-REQUESTED-WITH,Authorization")?.status, 204);
    assert.equal(preflight(stage, APP, "POST", "Content-Type, Accept-Language")?.status, 204);
    assert.equal(preflight(stage, APP, "POST", "")?.status, 204);
  });

  test("a method that is not listed is refused, simple methods included", () => {
    assertRejected(preflight(stageFor(policy), APP, "DELETE"), "method not allowed");
    assertRejected(
      preflight(stageFor({ origins: [APP], methods: ["PUT"] }), APP, "GET"),
      "method not allowed",
    );
    assertRejected(preflight(stageFor(policy), APP, "put"), "method not allowed");
  });

  test("a header that is not listed is refused", () => {
    const stage = stageFor(policy);
    assertRejected(preflight(stage, APP, "POST", "authorization, x-api-key"), "request header not allowed");
    assertRejected(preflight(stage, APP, "POST", "x-requested-with-evil"), "request header not allowed");
  });

  test("an origin that is not listed is refused before anything else", () => {
    assertRejected(preflight(stageFor(policy), "https://evil.example.org", "GET"), "origin not allowed");
  });

  test('"*" without credentials answers with the literal *', () => {
    const reply = preflight(stageFor({ origins: ["*"] }), "https://anyone.example.net", "POST");
    assert.equal(reply?.status, 204);
    assert.equal(reply?.headers?.["access-control-allow-origin"], "*");
    assert.equal(reply?.headers?.["access-control-allow-credentials"], undefined);
  });

  test("Private Network Access is never granted", () => {
    const reply = preflight(stageFor(policy), APP, "GET", undefined, {
      "access-control-request-private-network": "true",
    });
    assert.equal(reply?.status, 204);
    assert.equal(reply?.headers?.["access-control-allow-private-network"], undefined);
  });

  test("OPTIONS without Access-Control-Request-Method is not a preflight and goes upstream", () => {
    const stage = stageFor(policy);
    const sent = actual(stage, APP, { allow: "GET, POST" }, { method: "OPTIONS" });
    assert.equal(sent["access-control-allow-origin"], APP);
    assert.equal(sent.allow, "GET, POST");
  });

  test("onResponse leaves the gateway's own preflight answer as it is", () => {
    const stage = stageFor(policy);
    const ctx = contextFor("OPTIONS", { origin: APP, "access-control-request-method": "PUT" });
    const reply = stage.onRequest!(ctx) as Reply;
    const head: ResponseHead = { status: reply.status, headers: { ...reply.headers }, fromGateway: true };
    stage.onResponse!(ctx, head);
    assert.deepEqual(head.headers, reply.headers);
  });
});

describe("through the whole stage chain", () => {
  const config = configWith({ origins: [APP], methods: ["GET", "PUT"], credentials: true });
  const chain = buildChain(config.routes[0]!, { config });

  /** What server.ts does with a Reply: copy its headers and run the response stages. */
  async function serve(ctx: RequestContext): Promise<ResponseHead | undefined> {
    const reply = await runRequestStages(chain, ctx);
    if (!reply) return undefined;
    const head: ResponseHead = { status: reply.status, headers: { ...reply.headers }, fromGateway: true };
    runResponseStages(chain, ctx, head);
    return head;
  }

  test("a preflight is answered before the upstream and keeps its CORS headers", async () => {
    const head = await serve(contextFor("OPTIONS", { origin: APP, "access-control-request-method": "PUT" }));
    assert.ok(head);
    assert.equal(head.status, 204);
    assert.equal(head.headers["access-control-allow-origin"], APP);
    assert.equal(head.headers["access-control-allow-credentials"], "true");
    assert.equal(head.headers["x-content-type-options"], "nosniff", "security headers still apply");
  });

  test("a refused preflight is a 403 without CORS headers", async () => {
    const ctx = contextFor("OPTIONS", { origin: APP, "access-control-request-method": "DELETE" });
    const reply = await runRequestStages(chain, ctx);
    assertRejected(reply, "method not allowed");
  });

  test("an actual response from the upstream gets the gateway's CORS headers only", async () => {
    const ctx = contextFor("GET", { origin: "https://evil.example.org" });
    assert.equal(await runRequestStages(chain, ctx), undefined);
    const head: ResponseHead = {
      status: 200,
      headers: {
        "access-control-allow-origin": "https://evil.example.org",
        "access-control-allow-credentials": "true",
      },
      fromGateway: false,
    };
    runResponseStages(chain, ctx, head);
    assert.deepEqual(corsHeadersOf(head.headers), []);
  });
});
