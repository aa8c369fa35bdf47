// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the tests write ${env:…} and ${file:…} references literally
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ConfigError,
  type ConfigProblem,
  loadConfigFile,
  loadConfigText,
  validateConfig,
} from "../../../src/config/load.js";
import type { ResolvedConfig } from "../../../src/config/resolve.js";
import { RULES, type RuleId } from "../../../src/config/rules.js";
import { formatDuration, formatSize, parseDuration, parseSize } from "../../../src/config/units.js";
import { BulwarkError } from "../../../src/errors.js";
import { writePrivateKey, writeSelfSignedCertificate } from "../../support/openssl.js";

const SOURCE = "bulwark.yaml";
const UPSTREAM = `upstreams:
  app:
    targets: [http://127.0.0.1:3000]
`;
const MINIMAL = `${UPSTREAM}routes:
  - upstream: app
`;
/** A route with browser sign-in (lines 5-12), without server settings. */
const sessionRoute = (redirectUrl = "https://app.example.com/.bulwark/auth/callback") => `${UPSTREAM}routes:
  - upstream: app
    auth:
      session:
        issuer: https://idp.example.com
        clientId: app
        clientSecret: "\${file:session-secret}"
        redirectUrl: ${redirectUrl}
`;
const SESSION_SERVER = `server:\n  sessions:\n    secret: "\${file:session-secret}"\n`;

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "bulwark-config-test-"));
  await writeFile(join(dir, "session-secret"), "0123456789abcdef0123456789abcdef\n");
  await writeFile(join(dir, "short-secret"), "short-secret\n");
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function load(text: string, options: { env?: NodeJS.ProcessEnv; baseDir?: string } = {}): ResolvedConfig {
  return loadConfigText(text, { source: SOURCE, baseDir: options.baseDir ?? dir, env: options.env ?? {} });
}

/** The ConfigError a load throws; fails the test when it loads or throws something else. */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, "config_invalid");
    return error;
  }
  assert.fail("expected the config to be refused");
}

function problemsOf(
  text: string,
  options: { env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): ConfigProblem[] {
  return [...configError(() => load(text, options)).problems];
}

/** Every text an operator could see from an error: message, details and the problems. */
function errorText(error: ConfigError): string {
  return [error.message, ...error.details, JSON.stringify(error.problems)].join("\n");
}

describe("a valid config", () => {
  test("a minimal config gets every default", () => {
    const config = load(MINIMAL);
    assert.equal(config.source, SOURCE);
    assert.equal(config.baseDir, dir);
    assert.deepEqual(
      config.listeners.map(({ name, address, host, port, allowPlaintext, tls }) => ({
        name,
        address,
        host,
        port,
        allowPlaintext,
        tls,
      })),
      [
        {
          name: "127.0.0.1:8080",
          address: "127.0.0.1:8080",
          host: "127.0.0.1",
          port: 8080,
          allowPlaintext: false,
          tls: undefined,
        },
      ],
    );
    assert.deepEqual(
      { ...config.admin },
      { address: "127.0.0.1:9901", enabled: true, host: "127.0.0.1", port: 9901 },
    );
    assert.deepEqual(config.routes, [
      {
        name: "route-0",
        index: 0,
        hosts: null,
        pathPrefix: "/",
        upstream: "app",
        rewritePrefix: null,
        headers: { profile: "strict", set: {}, keepUpstream: [], stripBanners: true },
        cors: null,
        auth: null,
        authorize: null,
        limits: { maxBodySize: 1024 * 1024 },
        rateLimit: [],
        audit: false,
        loginEndpoint: null,
      },
    ]);
    assert.deepEqual(config.upstreams.app, {
      targets: ["http://127.0.0.1:3000"],
      connections: 256,
      hostHeader: "preserve",
      timeouts: { connect: 5000, responseHeaders: 60_000, body: 60_000, keepAlive: 4000 },
      healthCheck: { interval: 5000, timeout: 2000 },
      ejectFor: 5000,
    });
    assert.deepEqual(config.server, {
      workers: 1,
      workerCount: 1,
      trustedProxies: [],
      timeouts: { clientHeader: 10_000, bodyIdle: 30_000, keepAlive: 5000, shutdownGrace: 30_000 },
      limits: { maxHeaderSize: 16 * 1024, maxUrlLength: 8 * 1024 },
      rateLimitStore: { type: "memory", maxKeys: 100_000 },
      tokenRevocation: { type: "memory", maxEntries: 100_000 },
      rateLimitCeiling: [],
      bruteForce: {
        enabled: true,
        maxFailures: 5,
        maxCredentialFailures: 50,
        window: 900_000,
        lockout: 60_000,
        maxLockout: 3_600_000,
        store: { type: "memory", maxKeys: 100_000 },
      },
    });
    assert.deepEqual(config.logging, { level: "info", accessLog: true, redact: [] });
    assert.deepEqual(config.defaultHeaders, {
      profile: "strict",
      set: {},
      keepUpstream: [],
      stripBanners: true,
    });
    assert.equal(config.secretPaths.size, 0);
  });

  test("the resolved config is frozen all the way down", () => {
    const config = load(MINIMAL);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.routes[0]!.headers));
    assert.ok(Object.isFrozen(config.upstreams.app!.targets));
    assert.throws(() => {
      (config.routes[0]!.limits as { maxBodySize: number }).maxBodySize = 1;
    }, TypeError);
  });

  test("defaults are merged into every route, and a route's own settings win", () => {
    const config = load(`${UPSTREAM}defaults:
  headers:
    profile: api
    set: { X-Team: platform, X-Env: prod }
    keepUpstream: [Cache-Control]
    stripBanners: false
  cors:
    origins: [https://app.example.com]
  limits:
    maxBodySize: 2mb
routes:
  - name: inherits
    match: { host: API.Example.com, pathPrefix: /inherit/ }
    upstream: app
  - name: overrides
    match: { pathPrefix: /own }
    upstream: app
    stripPrefix: true
    headers:
      profile: webapp
      set: { X-Env: staging, X-Team: null }
      keepUpstream: [ETag, cache-control]
      stripBanners: true
    cors:
      origins: [https://other.example.com]
      credentials: true
    limits:
      maxBodySize: 64kb
  - name: no-cors
    match: { host: ["a.example.com", "*.B.example.com"], pathPrefix: /v1 }
    upstream: app
    rewritePrefix: /v2
    cors: false
`);
    const [inherits, overrides, noCors] = config.routes;
    assert.deepEqual(inherits!.headers, {
      profile: "api",
      set: { "X-Team": "platform", "X-Env": "prod" },
      keepUpstream: ["cache-control"],
      stripBanners: false,
    });
    assert.deepEqual(inherits!.hosts, ["api.example.com"]);
    assert.equal(inherits!.pathPrefix, "/inherit", "a trailing slash is normalized away");
    assert.deepEqual(inherits!.cors?.origins, ["https://app.example.com"]);
    assert.equal(inherits!.cors?.credentials, false);
    assert.equal(inherits!.limits.maxBodySize, 2 * 1024 * 1024);
    assert.equal(inherits!.rewritePrefix, null);

    assert.deepEqual(overrides!.headers, {
      profile: "webapp",
      set: { "X-Team": null, "X-Env": "staging" },
      keepUpstream: ["cache-control", "etag"],
      stripBanners: true,
    });
    assert.deepEqual(
      overrides!.cors?.origins,
      ["https://other.example.com"],
      "a route's cors replaces the default",
    );
    assert.equal(overrides!.cors?.credentials, true);
    assert.equal(overrides!.limits.maxBodySize, 64 * 1024);
    assert.equal(overrides!.rewritePrefix, "/", "stripPrefix rewrites the prefix to /");

    assert.equal(noCors!.cors, null, "cors: false turns the default policy off");
    assert.deepEqual(noCors!.hosts, ["a.example.com", "*.b.example.com"]);
    assert.equal(noCors!.rewritePrefix, "/v2");
    assert.deepEqual(config.defaultHeaders.profile, "api");
  });

  test("relative TLS paths resolve against the config's directory", async () => {
    const tlsDir = join(dir, "valid-tls");
    await writeSelfSignedCertificate({
      certFile: join(tlsDir, "certs/site.crt"),
      keyFile: join(tlsDir, "certs/site.key"),
    });
    const config = load(
      `${MINIMAL}listeners:
  - address: 0.0.0.0:8443
    tls: { cert: certs/site.crt, key: certs/site.key }
`,
      { baseDir: tlsDir },
    );
    assert.equal(config.listeners[0]!.tls?.cert, join(tlsDir, "certs/site.crt"));
    assert.equal(config.listeners[0]!.tls?.key, join(tlsDir, "certs/site.key"));
    assert.equal(config.listeners[0]!.tls?.minVersion, "TLSv1.2");
    assert.equal(config.listeners[0]!.tls?.http2, true);
  });

  test("loadConfigFile reads the file and resolves paths against its directory", async () => {
    const fileDir = join(dir, "from-file");
    await mkdir(join(fileDir, "secrets"), { recursive: true });
    await writeFile(join(fileDir, "secrets/token"), "0123456789abcdef-from-file\n");
    const file = join(fileDir, "bulwark.yaml");
    await writeFile(file, `${MINIMAL}admin:\n  token: \${file:secrets/token}\n`);
    const config = loadConfigFile(file, { env: {} });
    assert.equal(config.source, file);
    assert.equal(config.baseDir, fileDir);
    assert.equal(config.admin.token, "0123456789abcdef-from-file");
  });

  test("loadConfigFile reports an unreadable file with its own code", () => {
    const missing = join(dir, "nope.yaml");
    assert.throws(
      () => loadConfigFile(missing),
      (error: unknown) =>
        error instanceof BulwarkError &&
        !(error instanceof ConfigError) &&
        error.code === "config_unreadable" &&
        error.message === `cannot read configuration file ${missing} (ENOENT)`,
    );
  });

  test("validateConfig takes a plain object, as quick mode builds one", () => {
    const config = validateConfig(
      { upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }, routes: [{ upstream: "app" }] },
      { source: "command line", baseDir: dir, env: {} },
    );
    assert.equal(config.routes[0]!.upstream, "app");
    const error = configError(() =>
      validateConfig(
        { upstreams: {}, routes: [{ upstream: "app", bogus: 1 }] },
        { source: "command line", baseDir: dir },
      ),
    );
    assert.deepEqual(
      error.problems.map((problem) => [problem.where, problem.path]),
      [["command line", "routes[0].bogus"]],
    );
  });
});

describe("problems are positioned and reported together", () => {
  test("an unknown key is reported at its file:line:column with its key path", () => {
    const problems = problemsOf(`${UPSTREAM}routes:
  - upstream: app
    match:
      pathPrefx: /api
`);
    assert.deepEqual(problems, [
      {
        where: "bulwark.yaml:7:7",
        path: "routes[0].match.pathPrefx",
        message: "unknown key; check its spelling against `bulwark config schema`",
      },
    ]);
  });

  test("inside `object | false`, an object is judged as the object: each missing key named", () => {
    const problems = problemsOf(`${UPSTREAM}routes:
  - upstream: app
    auth: { jwt: { issuer: https://idp.example.com } }
  - upstream: app
    match: { pathPrefix: /b }
    auth: true
`);
    assert.deepEqual(
      problems.map((problem) => [problem.path, problem.message]),
      [
        ["routes[0].auth.jwt.audience", "missing: expected string or array"],
        ["routes[1].auth", "expected object or false"],
      ],
    );
  });

  test("unknown keys at the top level and inside a flow mapping are located too", () => {
    const problems = problemsOf(`${MINIMAL}lisseners: []
server: { workers: 2, timeout: 5s }
`);
    assert.deepEqual(problems.map((problem) => [problem.where, problem.path]).sort(), [
      ["bulwark.yaml:6:1", "lisseners"],
      ["bulwark.yaml:7:23", "server.timeout"],
    ]);
  });

  test("several problems of different kinds come in one ConfigError", () => {
    const error = configError(() =>
      load(`upstreams:
  app:
    targets: [ftp://files.example.com]
    connections: lots
routes:
  - upstream: app
    colour: blue
server:
  timeouts:
    clientHeader: 10 sec
`),
    );
    assert.equal(error.message, "bulwark.yaml: 4 configuration problems");
    const byPath = new Map(error.problems.map((problem) => [problem.path, problem]));
    assert.deepEqual([...byPath.keys()].sort(), [
      "routes[0].colour",
      "server.timeouts.clientHeader",
      "upstreams.app.connections",
      "upstreams.app.targets[0]",
    ]);
    assert.equal(byPath.get("upstreams.app.targets[0]")!.where, "bulwark.yaml:3:15");
    assert.equal(byPath.get("upstreams.app.targets[0]")!.message, "expected an http:// or https:// URL");
    assert.equal(byPath.get("upstreams.app.connections")!.where, "bulwark.yaml:4:18");
    assert.match(byPath.get("upstreams.app.connections")!.message, /expected number/);
    assert.equal(byPath.get("routes[0].colour")!.where, "bulwark.yaml:7:5");
    assert.equal(byPath.get("server.timeouts.clientHeader")!.where, "bulwark.yaml:10:19");
    assert.equal(error.details.length, 4);
    assert.ok(
      error.details.includes(
        'bulwark.yaml:10:19 server.timeouts.clientHeader: expected a duration such as "500ms", "30s", "5m", "1h" or "7d"',
      ),
      error.details.join("\n"),
    );
  });

  test("a missing required key is reported", () => {
    const problems = problemsOf(UPSTREAM);
    assert.deepEqual(
      problems.map((problem) => problem.path),
      ["routes"],
    );
    assert.match(problems[0]!.message, /expected array/);
  });

  test("an address that is not HOST:PORT gets one problem, not two", () => {
    const problems = problemsOf(`${MINIMAL}listeners:
  - address: localhost
  - address: 127.0.0.1:70000
`);
    assert.deepEqual(
      problems.map((problem) => [problem.where, problem.path, problem.message]),
      [
        [
          "bulwark.yaml:7:14",
          "listeners[0].address",
          'expected HOST:PORT, such as "127.0.0.1:8080" or "[::1]:8443"',
        ],
        ["bulwark.yaml:8:14", "listeners[1].address", "port must be at most 65535"],
      ],
    );
  });

  test("a YAML syntax error is positioned", () => {
    assert.deepEqual(problemsOf(`${MINIMAL}logging: level: info\n`), [
      {
        where: "bulwark.yaml:6:10",
        path: "",
        message: "YAML syntax: nested mappings are not allowed in compact mappings",
      },
    ]);
    assert.deepEqual(problemsOf(`${MINIMAL}logging:\n\tlevel: info\n`), [
      { where: "bulwark.yaml:7:1", path: "", message: "YAML syntax: tabs are not allowed as indentation" },
    ]);
  });

  test("a duplicate key is a YAML error at the second occurrence", () => {
    const problems = problemsOf(`${MINIMAL}server:
  workers: 2
  workers: 4
`);
    assert.deepEqual(problems, [
      { where: "bulwark.yaml:8:3", path: "", message: "YAML syntax: map keys must be unique" },
    ]);
  });

  test("a document that is not a mapping is refused", () => {
    assert.deepEqual(problemsOf("- one\n- two\n"), [
      { where: "bulwark.yaml:1:1", path: "", message: "expected a mapping of settings at the top level" },
    ]);
    assert.deepEqual(
      problemsOf("").map((problem) => problem.path),
      ["upstreams", "routes"],
    );
  });
});

describe("secret references", () => {
  const TOKEN = "a-token-of-at-least-16-characters";

  test("${env:NAME} is replaced, also inside a longer string, and the key becomes secret", () => {
    const config = load(
      `${UPSTREAM}routes:
  - upstream: app
    headers:
      set: { X-Deployment: "\${env:REGION}-\${env:STAGE}" }
admin:
  token: \${env:ADMIN_TOKEN}
`,
      { env: { ADMIN_TOKEN: TOKEN, REGION: "eu", STAGE: "prod" } },
    );
    assert.equal(config.admin.token, TOKEN);
    assert.equal(config.routes[0]!.headers.set["X-Deployment"], "eu-prod");
    assert.deepEqual([...config.secretPaths].sort(), ["admin.token", "routes[0].headers.set.X-Deployment"]);
  });

  test("an unset or empty variable is named, with no value and no knock-on schema problem", () => {
    const problems = problemsOf(`${MINIMAL}admin:\n  token: \${env:BULWARK_TEST_UNSET}\n`, {
      env: { OTHER: "value-that-must-not-show" },
    });
    assert.deepEqual(problems, [
      {
        where: "bulwark.yaml:7:10",
        path: "admin.token",
        message: "${env:BULWARK_TEST_UNSET} is not set; export BULWARK_TEST_UNSET or change the reference",
      },
    ]);
    const empty = problemsOf(`${MINIMAL}admin:\n  token: \${env:EMPTY}\n`, { env: { EMPTY: "" } });
    assert.deepEqual(
      empty.map((problem) => problem.message),
      ["${env:EMPTY} is not set; export EMPTY or change the reference"],
    );
  });

  test("an invalid variable name is reported", () => {
    const problems = problemsOf(`${MINIMAL}admin:\n  token: \${env:1BAD-NAME}\n`);
    assert.deepEqual(
      problems.map((problem) => [problem.path, problem.message]),
      [["admin.token", "${env:1BAD-NAME} is not a valid environment variable name"]],
    );
  });

  test("${file:path} is read relative to the config, without one trailing newline", async () => {
    const secrets = join(dir, "file-refs");
    await mkdir(secrets, { recursive: true });
    await writeFile(join(secrets, "token"), `${TOKEN}\n`);
    await writeFile(join(secrets, "crlf"), "value-crlf\r\n");
    await writeFile(join(secrets, "two-lines"), "value\n\n");
    await writeFile(join(secrets, "absolute"), "absolute-value");
    const config = load(
      `${UPSTREAM}routes:
  - upstream: app
    headers:
      set:
        X-Crlf: \${file:crlf}
        X-Two: \${file:./two-lines}
        X-Absolute: \${file:${join(secrets, "absolute")}}
admin:
  token: \${file:token}
`,
      { baseDir: secrets },
    );
    assert.equal(config.admin.token, TOKEN);
    assert.deepEqual(config.routes[0]!.headers.set, {
      "X-Crlf": "value-crlf",
      "X-Two": "value\n",
      "X-Absolute": "absolute-value",
    });
    assert.ok(config.secretPaths.has("admin.token"));
  });

  test("a missing file is reported with the reference and the error code", () => {
    const problems = problemsOf(`${MINIMAL}admin:\n  token: \${file:secrets/missing-token}\n`);
    assert.deepEqual(problems, [
      {
        where: "bulwark.yaml:7:10",
        path: "admin.token",
        message: "${file:secrets/missing-token} cannot be read (ENOENT); check the path and its permissions",
      },
    ]);
  });

  test("$${ writes a literal ${ and is not a reference", () => {
    const config = load(
      `${UPSTREAM}routes:
  - upstream: app
    headers:
      set: { X-Template: "$\${env:HOME} and $\${file:/etc/passwd}" }
`,
      { env: { HOME: "/root" } },
    );
    assert.equal(config.routes[0]!.headers.set["X-Template"], "${env:HOME} and ${file:/etc/passwd}");
    assert.equal(config.secretPaths.size, 0);
  });

  test("secret values never appear in a ConfigError", async () => {
    const envSecret = "ENV-SECRET-7f3a9c1e2b";
    const fileSecret = "FILE-SECRET-c4d8e2a6f0";
    const secrets = join(dir, "leak-check");
    await mkdir(secrets, { recursive: true });
    await writeFile(join(secrets, "origin"), `https://${fileSecret.toLowerCase()}.example.com/path\n`);
    await writeFile(join(secrets, "short"), `${fileSecret}\n`);
    const env = { TOKEN: envSecret, PROXY: `10.0.0.0/${envSecret}`, LISTEN: "0.0.0.0:8080" };

    // Schema phase: the secrets are valid or too short, next to unrelated problems.
    const schemaError = configError(() =>
      load(
        `${UPSTREAM}routes:
  - upstream: app
    bogus: true
    headers:
      set: { X-Token: "\${env:TOKEN}" }
admin:
  token: \${file:short}
server:
  timeouts: { clientHeader: soon }
`,
        { env, baseDir: secrets },
      ),
    );
    assert.equal(schemaError.problems.length, 2, errorText(schemaError));
    assert.ok(!errorText(schemaError).includes(envSecret), errorText(schemaError));
    assert.ok(!errorText(schemaError).includes(fileSecret), errorText(schemaError));

    const shortError = configError(() =>
      load(`${MINIMAL}admin:\n  token: \${env:SHORT}\n`, { env: { SHORT: "tiny-secret" } }),
    );
    assert.deepEqual(
      shortError.problems.map((problem) => problem.message),
      ["admin token must be at least 16 characters"],
    );
    assert.ok(!errorText(shortError).includes("tiny-secret"));

    // Rule phase: rule messages quote the offending value, which here came from references.
    const ruleError = configError(() =>
      load(
        `${UPSTREAM}routes:
  - upstream: app
    cors:
      origins: ["\${file:origin}"]
listeners:
  - address: \${env:LISTEN}
server:
  trustedProxies: ["\${env:PROXY}"]
`,
        { env, baseDir: secrets },
      ),
    );
    assert.deepEqual(ruleError.problems.map((problem) => problem.rule).sort(), [
      "cors-origin-invalid",
      "plaintext-public",
      "trusted-proxy-invalid",
    ]);
    const text = errorText(ruleError);
    assert.ok(!text.includes(envSecret), text);
    assert.ok(!text.toLowerCase().includes(fileSecret.toLowerCase()), text);
    assert.ok(!text.includes("0.0.0.0:8080"), text);
    assert.match(text, /\[secret\]/);
  });
});

describe("fail-closed rules", () => {
  let tlsDir: string;

  before(async () => {
    tlsDir = join(dir, "rules-tls");
    const hour = 3_600_000;
    await Promise.all([
      writeSelfSignedCertificate({ certFile: join(tlsDir, "good.crt"), keyFile: join(tlsDir, "good.key") }),
      writePrivateKey(join(tlsDir, "other.key")),
      writeSelfSignedCertificate({
        certFile: join(tlsDir, "expired.crt"),
        keyFile: join(tlsDir, "expired.key"),
        notBefore: new Date("2020-01-01T00:00:00Z"),
        notAfter: new Date("2020-01-02T00:00:00Z"),
      }),
      writeSelfSignedCertificate({
        certFile: join(tlsDir, "future.crt"),
        keyFile: join(tlsDir, "future.key"),
        notBefore: new Date(Date.now() + 24 * hour),
        notAfter: new Date(Date.now() + 48 * hour),
      }),
      writeFile(
        join(tlsDir, "garbage.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
      ),
    ]);
  });

  const tlsListener = (cert: string, key: string) =>
    `${MINIMAL}listeners:\n  - address: 0.0.0.0:8443\n    tls: { cert: ${cert}, key: ${key} }\n`;

  interface RuleCase {
    readonly text: string;
    /** Key path the violation is reported at. */
    readonly path: string;
    /** file:line:column it is reported at. */
    readonly where: string;
    readonly tls?: boolean;
  }

  /** One config per rule that breaks that rule and no other. */
  const CASES: Record<RuleId, readonly RuleCase[]> = {
    "api-keys-unconfigured": [
      {
        text: `${UPSTREAM}routes:\n  - upstream: app\n    auth: { apiKey: {} }\n`,
        path: "routes[0].auth.apiKey",
        where: "bulwark.yaml:6:21",
      },
    ],
    "api-key-pepper-literal": [
      {
        text: `${MINIMAL}server:\n  apiKeys:\n    pepper: ${"p".repeat(40)}\n`,
        path: "server.apiKeys.pepper",
        where: "bulwark.yaml:8:13",
      },
    ],
    "audit-unconfigured": [
      {
        text: `${UPSTREAM}routes:\n  - upstream: app\n    audit: required\n`,
        path: "routes[0].audit",
        where: "bulwark.yaml:6:12",
      },
    ],
    "authorize-without-auth": [
      {
        text: `${UPSTREAM}routes:\n  - upstream: app\n    authorize: { roles: [admin] }\n`,
        path: "routes[0].authorize",
        where: "bulwark.yaml:6:16",
      },
    ],
    "cors-wildcard-credentials": [
      {
        text: `${MINIMAL}defaults:\n  cors:\n    origins: ["*"]\n    credentials: true\n`,
        path: "defaults.cors.origins[0]",
        where: "bulwark.yaml:8:15",
      },
    ],
    "cors-null-origin": [
      {
        text: `${UPSTREAM}routes:\n  - upstream: app\n    cors: { origins: [https://a.example.com, "null"] }\n`,
        path: "routes[0].cors.origins[1]",
        where: "bulwark.yaml:6:46",
      },
    ],
    "cors-origin-invalid": [
      {
        text: `${UPSTREAM}routes:\n  - upstream: app\n    cors: { origins: [https://app.example.com/] }\n`,
        path: "routes[0].cors.origins[0]",
        where: "bulwark.yaml:6:23",
      },
      {
        text: `${UPSTREAM}routes:\n  - upstream: app\n    cors: { origins: ["https://*.com"] }\n`,
        path: "routes[0].cors.origins[0]",
        where: "bulwark.yaml:6:23",
      },
    ],
    "route-undefined-upstream": [
      {
        text: `${UPSTREAM}routes:\n  - upstream: apq\n`,
        path: "routes[0].upstream",
        where: "bulwark.yaml:5:15",
      },
    ],
    "route-shadowed": [
      {
        text: `${UPSTREAM}routes:
  - upstream: app
    match: { host: api.example.com, pathPrefix: /api }
  - upstream: app
    match: { host: API.example.com, pathPrefix: /api/ }
`,
        path: "routes[1].match",
        where: "bulwark.yaml:8:12",
      },
    ],
    "route-name-duplicate": [
      {
        text: `${UPSTREAM}routes:
  - { name: main, upstream: app, match: { pathPrefix: /a } }
  - { name: main, upstream: app, match: { pathPrefix: /b } }
`,
        path: "routes[1].name",
        where: "bulwark.yaml:6:13",
      },
    ],
    "route-rewrite-conflict": [
      {
        text: `${UPSTREAM}routes:\n  - upstream: app\n    stripPrefix: true\n    rewritePrefix: /v2\n`,
        path: "routes[0].rewritePrefix",
        where: "bulwark.yaml:7:20",
      },
    ],
    "tls-unreadable": [
      {
        text: tlsListener("missing.crt", "good.key"),
        path: "listeners[0].tls.cert",
        where: "bulwark.yaml:8:18",
        tls: true,
      },
      {
        text: tlsListener("garbage.crt", "good.key"),
        path: "listeners[0].tls.cert",
        where: "bulwark.yaml:8:18",
        tls: true,
      },
      {
        text: tlsListener("good.crt", "good.crt"),
        path: "listeners[0].tls.key",
        where: "bulwark.yaml:8:33",
        tls: true,
      },
    ],
    "tls-key-mismatch": [
      {
        text: tlsListener("good.crt", "other.key"),
        path: "listeners[0].tls.key",
        where: "bulwark.yaml:8:33",
        tls: true,
      },
    ],
    "tls-cert-expired": [
      {
        text: tlsListener("expired.crt", "expired.key"),
        path: "listeners[0].tls.cert",
        where: "bulwark.yaml:8:18",
        tls: true,
      },
      {
        text: tlsListener("future.crt", "future.key"),
        path: "listeners[0].tls.cert",
        where: "bulwark.yaml:8:18",
        tls: true,
      },
    ],
    "plaintext-public": [
      {
        text: `${MINIMAL}listeners:\n  - address: 0.0.0.0:8080\n`,
        path: "listeners[0].address",
        where: "bulwark.yaml:7:14",
      },
      {
        text: `${MINIMAL}listeners:\n  - address: "[::]:8080"\n`,
        path: "listeners[0].address",
        where: "bulwark.yaml:7:14",
      },
    ],
    "admin-public-unauthenticated": [
      {
        text: `${MINIMAL}admin:\n  address: 0.0.0.0:9901\n`,
        path: "admin.address",
        where: "bulwark.yaml:7:12",
      },
    ],
    "admin-address-conflict": [
      {
        text: `${MINIMAL}admin:\n  address: 127.0.0.1:8080\n`,
        path: "admin.address",
        where: "bulwark.yaml:7:12",
      },
    ],
    "listener-address-conflict": [
      {
        text: `${MINIMAL}listeners:\n  - address: 127.0.0.1:8080\n  - address: 127.0.0.1:8080\n`,
        path: "listeners[1].address",
        where: "bulwark.yaml:8:14",
      },
    ],
    "redirect-without-https": [
      {
        text: `${MINIMAL}listeners:\n  - address: 127.0.0.1:8080\n    redirectToHttps: {}\n`,
        path: "listeners[0].redirectToHttps",
        where: "bulwark.yaml:8:22",
      },
    ],
    "trusted-proxy-invalid": [
      {
        text: `${MINIMAL}server:\n  trustedProxies: [10.0.0.0/8, 10.0.0.0/33]\n`,
        path: "server.trustedProxies[1]",
        where: "bulwark.yaml:7:32",
      },
      {
        text: `${MINIMAL}server:\n  trustedProxies: [load-balancer.internal]\n`,
        path: "server.trustedProxies[0]",
        where: "bulwark.yaml:7:20",
      },
    ],
    "trusted-proxy-any": [
      {
        text: `${MINIMAL}server:\n  trustedProxies: [0.0.0.0/0]\n`,
        path: "server.trustedProxies[0]",
        where: "bulwark.yaml:7:20",
      },
      {
        text: `${MINIMAL}server:\n  trustedProxies: ["::/0"]\n`,
        path: "server.trustedProxies[0]",
        where: "bulwark.yaml:7:20",
      },
    ],
    "redis-url-invalid": [
      {
        text: `${MINIMAL}server:\n  rateLimitStore:\n    type: redis\n    url: http://127.0.0.1:6379\n`,
        path: "server.rateLimitStore.url",
        where: "bulwark.yaml:9:10",
      },
      {
        text: `${MINIMAL}server:\n  tokenRevocation:\n    type: redis\n    url: "redis://"\n`,
        path: "server.tokenRevocation.url",
        where: "bulwark.yaml:9:10",
      },
      {
        text: `${sessionRoute()}${SESSION_SERVER}    store: { type: redis, url: "http://127.0.0.1:6379" }\n`,
        path: "server.sessions.store.url",
        where: "bulwark.yaml:15:32",
      },
    ],
    "session-secret-missing": [
      {
        text: sessionRoute(),
        path: "routes[0].auth.session",
        where: "bulwark.yaml:8:9",
      },
    ],
    "session-secret-short": [
      {
        text: `${sessionRoute()}server:\n  sessions:\n    secret: "\${file:short-secret}"\n`,
        path: "server.sessions.secret",
        where: "bulwark.yaml:14:13",
      },
      {
        text: `${sessionRoute()}${SESSION_SERVER}    previousSecrets: ["\${file:short-secret}"]\n`,
        path: "server.sessions.previousSecrets[0]",
        where: "bulwark.yaml:15:23",
      },
    ],
    "session-secret-literal": [
      {
        text: `${sessionRoute()}server:\n  sessions:\n    secret: "0123456789abcdef0123456789abcdef"\n`,
        path: "server.sessions.secret",
        where: "bulwark.yaml:14:13",
      },
      {
        text: `${sessionRoute()}${SESSION_SERVER}    previousSecrets: ["0123456789abcdef0123456789abcdef-old"]\n`,
        path: "server.sessions.previousSecrets[0]",
        where: "bulwark.yaml:15:23",
      },
    ],
    "session-client-secret-literal": [
      {
        text: `${sessionRoute().replace('"${file:session-secret}"', "in-clear")}${SESSION_SERVER}`,
        path: "routes[0].auth.session.clientSecret",
        where: "bulwark.yaml:10:23",
      },
    ],
    "session-redirect-insecure": [
      {
        text: `${sessionRoute("http://app.example.com/.bulwark/auth/callback")}${SESSION_SERVER}`,
        path: "routes[0].auth.session.redirectUrl",
        where: "bulwark.yaml:11:22",
      },
    ],
    "session-store-per-process": [
      {
        text: `${sessionRoute()}${SESSION_SERVER}  workers: 2\n`,
        path: "server.sessions.store",
        where: "bulwark.yaml:14:5",
      },
    ],
    "session-redirect-unrouted": [
      {
        text: `${sessionRoute("https://app.example.com/auth/callback")}${SESSION_SERVER}`,
        path: "routes[0].auth.session.redirectUrl",
        where: "bulwark.yaml:11:22",
      },
      {
        // The callback path is taken by /other, which has no sign-in.
        text: `${sessionRoute("https://app.example.com/other/.bulwark/auth/callback")}  - upstream: app\n    match: { pathPrefix: /other }\n${SESSION_SERVER}`,
        path: "routes[0].auth.session.redirectUrl",
        where: "bulwark.yaml:11:22",
      },
    ],
  };

  test("every rule in RULES has a test case here", () => {
    assert.deepEqual(Object.keys(CASES).sort(), Object.keys(RULES).sort());
    for (const [rule, cases] of Object.entries(CASES)) assert.ok(cases.length > 0, `${rule} has no case`);
  });

  for (const [rule, cases] of Object.entries(CASES) as [RuleId, readonly RuleCase[]][]) {
    cases.forEach((ruleCase, index) => {
      test(`${rule} (case ${index + 1}) is refused with its rule id`, () => {
        const error = configError(() => load(ruleCase.text, ruleCase.tls ? { baseDir: tlsDir } : {}));
        assert.deepEqual(
          error.problems.map((problem) => ({ rule: problem.rule, path: problem.path, where: problem.where })),
          [{ rule, path: ruleCase.path, where: ruleCase.where }],
          errorText(error),
        );
        const problem = error.problems[0]!;
        assert.match(problem.message, /; fix: \S/, "a rule violation says how to fix it");
        assert.ok(error.details[0]!.endsWith(` [${rule}]`), error.details[0]);
      });
    });
  }

  test("the configs next to the rules are accepted when they are safe", async () => {
    load(tlsListener("good.crt", "good.key"), { baseDir: tlsDir });
    load(`${MINIMAL}listeners:\n  - address: 0.0.0.0:8080\n    allowPlaintext: true\n`);
    load(`${MINIMAL}listeners:\n  - address: "[::1]:8080"\n  - address: localhost:8081\n`);
    load(`${MINIMAL}admin:\n  address: 0.0.0.0:9901\n  token: 0123456789abcdef\n`);
    load(`${MINIMAL}admin:\n  address: 127.0.0.1:8080\n  enabled: false\n`);
    load(`${MINIMAL}listeners:\n  - address: 0.0.0.0:8080\n    redirectToHttps: { port: 443 }\n`);
    load(`${MINIMAL}server:\n  trustedProxies: [10.0.0.0/8, "fd00::/8", 192.168.1.10]\n`);
    load(`${MINIMAL}defaults:\n  cors: { origins: ["*"] }\n`);
    load(
      `${UPSTREAM}routes:\n  - upstream: app\n    auth: { apiKey: {} }\nserver:\n  apiKeys:\n    pepper: \${env:PEPPER}\n`,
      {
        env: { PEPPER: "p".repeat(40) },
      },
    );
    load(
      `${MINIMAL}defaults:\n  cors: { origins: ["https://*.example.com", "http://localhost:3000"], credentials: true }\n`,
    );
    load(`${UPSTREAM}routes:
  - { upstream: app, match: { host: a.example.com, pathPrefix: /api } }
  - { upstream: app, match: { host: b.example.com, pathPrefix: /api } }
  - { upstream: app, match: { pathPrefix: /api } }
  - { upstream: app, match: { pathPrefix: /apix } }
`);
  });

  test("every rule violation is reported together", () => {
    const problems = problemsOf(`${UPSTREAM}routes:
  - { name: a, upstream: app }
  - { name: a, upstream: nope, match: { pathPrefix: /x } }
listeners:
  - address: 0.0.0.0:8080
server:
  trustedProxies: [0.0.0.0/0]
`);
    assert.deepEqual(problems.map((problem) => problem.rule).sort(), [
      "plaintext-public",
      "route-name-duplicate",
      "route-undefined-upstream",
      "trusted-proxy-any",
    ]);
  });
});

describe("durations and sizes", () => {
  test("durations parse to milliseconds", () => {
    const cases: [string, number][] = [
      ["500ms", 500],
      ["30s", 30_000],
      ["5m", 300_000],
      ["1h", 3_600_000],
      ["1.5s", 1500],
      ["0ms", 0],
      ["90d", 90 * 86_400_000],
      ["2w", 14 * 86_400_000],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
    for (const bad of ["10 sec", "5M", "1y", "-5s", "", "ms", "1.s", "s5", "5", "1h30m"]) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });

  test("sizes parse to bytes, with binary multiples", () => {
    const cases: [string, number][] = [
      ["512b", 512],
      ["16kb", 16 * 1024],
      ["1mb", 1024 * 1024],
      ["1gb", 1024 ** 3],
      ["16KB", 16 * 1024],
      ["1.5mb", 1.5 * 1024 * 1024],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
    for (const bad of ["16k", "1tb", "1 mb", "-1kb", "", "kb", "12"]) {
      assert.equal(parseSize(bad), undefined, JSON.stringify(bad));
    }
  });

  test("formatting writes the largest whole unit", () => {
    assert.deepEqual([5000, 60_000, 3_600_000, 1500, 0].map(formatDuration), [
      "5s",
      "1m",
      "1h",
      "1500ms",
      "0ms",
    ]);
    assert.deepEqual([16 * 1024, 1024 * 1024, 1024 ** 3, 1500, 0].map(formatSize), [
      "16kb",
      "1mb",
      "1gb",
      "1500b",
      "0b",
    ]);
  });

  test("config values accept units or plain numbers", () => {
    const config = load(`routes:
  - upstream: app
    limits: { maxBodySize: 1mb }
  - upstream: app
    match: { pathPrefix: /b }
    limits: { maxBodySize: 2048 }
server:
  timeouts: { clientHeader: 500ms, bodyIdle: 30s, keepAlive: 250, shutdownGrace: 1h }
  limits: { maxHeaderSize: 16kb, maxUrlLength: 512b }
upstreams:
  app:
    targets: [http://127.0.0.1:3000]
    ejectFor: 5m
`);
    assert.deepEqual(config.server.timeouts, {
      clientHeader: 500,
      bodyIdle: 30_000,
      keepAlive: 250,
      shutdownGrace: 3_600_000,
    });
    assert.deepEqual(config.server.limits, { maxHeaderSize: 16 * 1024, maxUrlLength: 512 });
    assert.equal(config.upstreams.app!.ejectFor, 300_000);
    assert.deepEqual(
      config.routes.map((route) => route.limits.maxBodySize),
      [1024 * 1024, 2048],
    );
  });

  test("bad units are reported at their key with what is expected", () => {
    const problems = problemsOf(`${UPSTREAM}routes:
  - upstream: app
    limits: { maxBodySize: 1tb }
server:
  timeouts: { clientHeader: 10 sec, bodyIdle: 1y, keepAlive: -5 }
  limits: { maxHeaderSize: 16k }
`);
    const duration = 'expected a duration such as "500ms", "30s", "5m", "1h" or "7d"';
    const size = 'expected a size such as "512b", "16kb", "1mb" or "1gb"';
    assert.deepEqual(
      problems.map((problem) => [problem.path, problem.where, problem.message]),
      [
        ["routes[0].limits.maxBodySize", "bulwark.yaml:6:28", size],
        ["server.timeouts.clientHeader", "bulwark.yaml:8:29", duration],
        ["server.timeouts.bodyIdle", "bulwark.yaml:8:47", duration],
        ["server.timeouts.keepAlive", "bulwark.yaml:8:62", "too small: expected number to be >=0"],
        ["server.limits.maxHeaderSize", "bulwark.yaml:9:28", size],
      ],
    );
  });
});
