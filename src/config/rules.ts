/**
 * Fail-closed rules: a config that is risky is refused at start, with a rule id, a reason and a
 * fix (DESIGN.md principle 1). docs/configuration.md lists every rule; a test keeps the list and
 * this table in sync.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { validOriginPattern } from "../security/origins.js";
import { SESSION_RULES, sessionViolations } from "../security/sessions/config-rules.js";
import { isLoopbackHost, parseCidr } from "../security/trusted-proxies.js";
import type { Config, CorsConfig } from "./schema.js";

export interface RuleViolation {
  readonly rule: RuleId;
  readonly path: readonly (string | number)[];
  readonly message: string;
  readonly fix: string;
}

/** Every rule, with the one-line reason shown in docs/configuration.md. */
export const RULES = {
  "cors-wildcard-credentials": "CORS allows any origin (*) together with credentials",
  "cors-null-origin": 'CORS allows the "null" origin, which sandboxed iframes and file: pages send',
  "cors-origin-invalid": "a CORS origin is not scheme://host[:port] (with an optional leading *. label)",
  "route-undefined-upstream": "a route names an upstream that is not defined",
  "route-shadowed": "two routes match the same host and path prefix, so the second can never match",
  "route-name-duplicate": "two routes have the same name, which makes logs and metrics ambiguous",
  "route-rewrite-conflict": "a route sets both stripPrefix and rewritePrefix",
  "tls-unreadable": "a TLS certificate or key file cannot be read or parsed",
  "tls-key-mismatch": "a TLS private key does not belong to its certificate",
  "tls-cert-expired": "a TLS certificate has expired or is not yet valid",
  "plaintext-public": "a listener on a non-loopback address serves plaintext HTTP",
  "admin-public-unauthenticated": "the admin listener is on a non-loopback address without a token",
  "admin-address-conflict": "the admin listener shares an address with a traffic listener",
  "listener-address-conflict": "two listeners use the same address",
  "redirect-without-https": "a listener redirects to HTTPS but no HTTPS port is known",
  "trusted-proxy-invalid": "a trusted proxy entry is not an IP address or CIDR",
  "trusted-proxy-any": "every address is a trusted proxy, so any client can spoof its address",
  "api-keys-unconfigured": "a route accepts API keys but server.apiKeys (pepper and store) is not set",
  "api-key-pepper-literal":
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference, written as users write it
    "the API key pepper is written in the config file instead of a ${file:} or ${env:} reference",
  "audit-unconfigured":
    "a route asks for audit records but the audit section (store, signing key) is not set",
  "authorize-without-auth":
    "a route authorizes on claims but authenticates nobody, so every request is denied",
  "redis-url-invalid":
    "a Redis URL (rate limits, token revocation, brute-force, sessions) is not a redis:// or rediss:// URL with a host",
  ...SESSION_RULES,
} as const;

export type RuleId = keyof typeof RULES;

export function checkRules(
  config: Config,
  options: { baseDir: string; secretPaths?: ReadonlySet<string> },
): RuleViolation[] {
  const violations: RuleViolation[] = [];
  const add = (rule: RuleId, path: (string | number)[], message: string, fix: string) =>
    violations.push({ rule, path, message, fix });

  checkListeners(config, options, add);
  checkAdmin(config, add);
  checkRoutes(config, add);
  checkTrustedProxies(config, add);
  checkRedisUrls(config, add);
  checkApiKeys(config, options.secretPaths ?? new Set(), add);
  for (const violation of sessionViolations(config, options.secretPaths ?? new Set())) {
    add(violation.rule, violation.path, violation.message, violation.fix);
  }
  return violations;
}

type Add = (rule: RuleId, path: (string | number)[], message: string, fix: string) => void;

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(":"));
}

function checkListeners(config: Config, options: { baseDir: string }, add: Add): void {
  const seen = new Map<string, number>();
  const hasTls = config.listeners.some((listener) => listener.tls);
  config.listeners.forEach((listener, index) => {
    const path = ["listeners", index];
    const previous = seen.get(listener.address);
    // Port 0 asks the kernel for a free port, so two such listeners never clash.
    if (previous !== undefined && !listener.address.endsWith(":0")) {
      add(
        "listener-address-conflict",
        [...path, "address"],
        `${listener.address} is already used by listeners[${previous}]`,
        "give each listener its own address",
      );
    }
    seen.set(listener.address, index);
    if (listener.tls) {
      checkTls(listener.tls, [...path, "tls"], options.baseDir, add);
    } else if (listener.redirectToHttps) {
      if (!hasTls && listener.redirectToHttps.port === undefined) {
        add(
          "redirect-without-https",
          [...path, "redirectToHttps"],
          "no listener has tls and no redirect port is given",
          "add a TLS listener or set redirectToHttps.port",
        );
      }
    } else if (!isLoopbackHost(hostOf(listener.address)) && !listener.allowPlaintext) {
      add(
        "plaintext-public",
        [...path, "address"],
        `${listener.address} is not a loopback address and has no tls`,
        "add tls (cert and key), listen on 127.0.0.1, or set allowPlaintext: true when a trusted proxy in front terminates TLS",
      );
    }
  });
}

function checkTls(
  tls: { cert: string; key: string },
  path: (string | number)[],
  baseDir: string,
  add: Add,
): void {
  const read = (file: string, key: "cert" | "key"): Buffer | undefined => {
    try {
      return readFileSync(isAbsolute(file) ? file : resolve(baseDir, file));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
      add(
        "tls-unreadable",
        [...path, key],
        `cannot read ${file} (${code})`,
        "check the path and its permissions",
      );
      return undefined;
    }
  };
  const certPem = read(tls.cert, "cert");
  const keyPem = read(tls.key, "key");
  if (!certPem || !keyPem) return;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    add(
      "tls-unreadable",
      [...path, "cert"],
      `${tls.cert} is not a PEM certificate`,
      "give a PEM-encoded certificate chain",
    );
    return;
  }
  try {
    const key = createPrivateKey(keyPem);
    if (!certificate.checkPrivateKey(key)) {
      add(
        "tls-key-mismatch",
        [...path, "key"],
        `${tls.key} does not belong to the certificate in ${tls.cert}`,
        "give the private key that was issued with this certificate",
      );
    }
  } catch {
    add(
      "tls-unreadable",
      [...path, "key"],
      `${tls.key} is not an unencrypted PEM private key`,
      "give an unencrypted PEM private key (PKCS#8 or traditional)",
    );
  }
  const now = Date.now();
  if (Date.parse(certificate.validTo) < now || Date.parse(certificate.validFrom) > now) {
    add(
      "tls-cert-expired",
      [...path, "cert"],
      `certificate is valid from ${certificate.validFrom} to ${certificate.validTo}`,
      "renew the certificate",
    );
  }
}

function checkAdmin(config: Config, add: Add): void {
  if (!config.admin.enabled) return;
  if (!isLoopbackHost(hostOf(config.admin.address)) && !config.admin.token) {
    add(
      "admin-public-unauthenticated",
      ["admin", "address"],
      `${config.admin.address} exposes metrics and probes beyond this machine without authentication`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference shown to the user, not a template
      "set admin.token (e.g. ${file:/run/secrets/admin-token}) or listen on 127.0.0.1",
    );
  }
  const clash = config.listeners.findIndex((listener) => listener.address === config.admin.address);
  if (clash >= 0 && !config.admin.address.endsWith(":0")) {
    add(
      "admin-address-conflict",
      ["admin", "address"],
      `${config.admin.address} is also listeners[${clash}]`,
      "give the admin listener its own port",
    );
  }
}

function checkCors(cors: CorsConfig | false | undefined, path: (string | number)[], add: Add): void {
  if (!cors) return;
  cors.origins.forEach((origin, index) => {
    const at = [...path, "origins", index];
    if (origin === "*" && cors.credentials) {
      add(
        "cors-wildcard-credentials",
        at,
        "any website could make credentialed requests and read the answers",
        "list the allowed origins explicitly, or set credentials: false",
      );
    } else if (origin === "null") {
      add("cors-null-origin", at, '"null" can be sent by any sandboxed page', 'remove "null" from origins');
    } else if (origin !== "*" && !validOriginPattern(origin)) {
      add(
        "cors-origin-invalid",
        at,
        `${JSON.stringify(origin)} is not an origin`,
        'write "https://app.example.com" or "https://*.example.com", with no path or trailing slash',
      );
    }
  });
}

function checkRoutes(config: Config, add: Add): void {
  checkCors(config.defaults.cors, ["defaults", "cors"], add);
  const names = new Map<string, number>();
  const matches = new Map<string, number>();
  config.routes.forEach((route, index) => {
    const path = ["routes", index];
    if (!Object.hasOwn(config.upstreams, route.upstream)) {
      const known = Object.keys(config.upstreams);
      add(
        "route-undefined-upstream",
        [...path, "upstream"],
        `upstream ${JSON.stringify(route.upstream)} is not defined`,
        known.length > 0 ? `use one of: ${known.join(", ")}` : "define it under upstreams",
      );
    }
    if (route.name !== undefined) {
      const previous = names.get(route.name);
      if (previous !== undefined) {
        add(
          "route-name-duplicate",
          [...path, "name"],
          `routes[${previous}] has the same name`,
          "give each route a unique name",
        );
      }
      names.set(route.name, index);
    }
    const hosts =
      route.match.host === undefined ? ["*any*"] : [route.match.host].flat().map((h) => h.toLowerCase());
    for (const host of hosts) {
      const key = `${host} ${normalizePrefix(route.match.pathPrefix)}`;
      const previous = matches.get(key);
      if (previous !== undefined) {
        add(
          "route-shadowed",
          [...path, "match"],
          `routes[${previous}] already matches the same host and path prefix`,
          "remove one of the routes or make their matches differ",
        );
      }
      matches.set(key, index);
    }
    if (route.stripPrefix && route.rewritePrefix !== undefined) {
      add(
        "route-rewrite-conflict",
        [...path, "rewritePrefix"],
        "stripPrefix and rewritePrefix both change the prefix",
        'use rewritePrefix alone (rewritePrefix: "/" strips)',
      );
    }
    checkCors(route.cors, [...path, "cors"], add);
    if (route.audit && !config.audit) {
      add(
        "audit-unconfigured",
        [...path, "audit"],
        `route ${route.name ?? `route-${index}`} asks for audit records, but there is no audit trail`,
        "add an audit section (store and signingKey; docs/audit.md) or remove audit from the route",
      );
    }
    const authorize = route.authorize === undefined ? config.defaults.authorize : route.authorize;
    const auth = route.auth === undefined ? config.defaults.auth : route.auth;
    if (authorize && !auth) {
      add(
        "authorize-without-auth",
        route.authorize === undefined ? ["defaults", "authorize"] : [...path, "authorize"],
        `route ${route.name ?? `route-${index}`} has authorize but no auth`,
        "add auth (jwt, apiKey or session) to the route or the defaults, or set authorize: false",
      );
    }
  });
}

export function normalizePrefix(prefix: string): string {
  return prefix.length > 1 && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
}

function checkTrustedProxies(config: Config, add: Add): void {
  config.server.trustedProxies.forEach((entry, index) => {
    const path = ["server", "trustedProxies", index];
    const cidr = parseCidr(entry);
    if (!cidr) {
      add(
        "trusted-proxy-invalid",
        path,
        `${JSON.stringify(entry)} is not an IP address or CIDR`,
        'write an address ("10.0.0.5") or a CIDR ("10.0.0.0/8")',
      );
    } else if (cidr.prefix === 0) {
      add(
        "trusted-proxy-any",
        path,
        `${entry} trusts every address`,
        "list only the addresses of the load balancers in front of Bulwark",
      );
    }
  });
}

/** Every Redis URL the config names: each must be redis:// or rediss:// with a host. */
function checkRedisUrls(config: Config, add: Add): void {
  const stores = [
    [["rateLimitStore"], config.server.rateLimitStore],
    [["tokenRevocation"], config.server.tokenRevocation],
    [["bruteForce", "store"], config.server.bruteForce.store],
    [["apiKeys", "store"], config.server.apiKeys?.store],
    [["sessions", "store"], config.server.sessions?.store ?? { type: "memory" }],
  ] as const;
  for (const [key, store] of stores) {
    if (store?.type !== "redis") continue;
    let valid = false;
    try {
      const url = new URL(store.url);
      valid = (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "";
    } catch {
      valid = false;
    }
    if (!valid) {
      add(
        "redis-url-invalid",
        ["server", ...key, "url"],
        // Not quoted: the URL may carry a password written in clear.
        "this is not a redis:// or rediss:// URL with a host",
        'write it as "redis://HOST:PORT/DB" (or rediss:// for TLS) and pass a password through an env reference',
      );
    }
  }
}

function checkApiKeys(config: Config, secretPaths: ReadonlySet<string>, add: Add): void {
  const apiKeys = config.server.apiKeys;
  if (apiKeys && !secretPaths.has("server.apiKeys.pepper")) {
    add(
      "api-key-pepper-literal",
      ["server", "apiKeys", "pepper"],
      "the pepper is a literal in the config file, where anyone who reads the file can forge key hashes",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference, written as users write it
      'write pepper: "${file:/run/secrets/bulwark-api-key-pepper}" (make one with: openssl rand -base64 48)',
    );
  }
  if (apiKeys) return;
  const routes: { auth: Config["defaults"]["auth"]; path: (string | number)[] }[] = [
    { auth: config.defaults.auth, path: ["defaults", "auth", "apiKey"] },
    ...config.routes.map((route, index) => ({ auth: route.auth, path: ["routes", index, "auth", "apiKey"] })),
  ];
  for (const { auth, path } of routes) {
    if (auth !== false && auth?.apiKey) {
      add(
        "api-keys-unconfigured",
        path,
        "this route accepts API keys, but no key store is configured",
        "add server.apiKeys with a pepper reference and a store (docs/security-model.md, API keys)",
      );
    }
  }
}
