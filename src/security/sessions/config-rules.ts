/**
 * Fail-closed rules of browser sign-in (src/config/rules.ts lists them in RULES and reports
 * them): a session route without a signing secret, a secret too short to resist guessing, a
 * callback over plaintext on a public host, and a callback the gateway would not answer.
 */
import type { Config } from "../../config/schema.js";
import { pathKey } from "../../config/secret-references.js";
import { isLoopbackHost } from "../trusted-proxies.js";
import { CALLBACK_PATH_SUFFIX, type SessionAuthConfig } from "./schema.js";

export const SESSION_RULES = {
  "session-secret-missing": "a route signs browsers in (auth.session) but server.sessions.secret is not set",
  "session-secret-short": "the session cookie secret, or a previous one, is shorter than 32 characters",
  "session-secret-literal":
    "the session cookie secret is written in the config file instead of a file: or env: reference",
  "session-client-secret-literal":
    "a sign-in client secret is written in the config file instead of a file: or env: reference",
  "session-redirect-insecure": "a sign-in redirectUrl is http:// on a non-loopback host",
  "session-redirect-unrouted":
    "a sign-in redirectUrl does not end with /.bulwark/auth/callback on a route with the same sign-in",
  "session-store-per-process":
    "several workers keep sessions in memory, each its own, so sign-ins and sessions break between them",
} as const;

export type SessionRuleId = keyof typeof SESSION_RULES;

export interface SessionViolation {
  readonly rule: SessionRuleId;
  readonly path: (string | number)[];
  readonly message: string;
  readonly fix: string;
}

// 32 characters: 256 bits when random base64 or hex-like, the HMAC-SHA256 key size (RFC 2104 §3).
export const MIN_SECRET_LENGTH = 32;

function normalize(prefix: string): string {
  return prefix.length > 1 && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
}

function covers(prefix: string, path: string): boolean {
  const base = normalize(prefix);
  return base === "/" || path === base || path.startsWith(`${base}/`);
}

function hostKey(host: string | string[] | undefined): string {
  return host === undefined
    ? "*"
    : JSON.stringify(
        [host]
          .flat()
          .map((h) => h.toLowerCase())
          .sort(),
      );
}

/** `secretPaths`: key paths whose values came from references (see config/secret-references.ts). */
export function sessionViolations(config: Config, secretPaths: ReadonlySet<string>): SessionViolation[] {
  const out: SessionViolation[] = [];
  const seen = new Set<string>();
  const add = (violation: SessionViolation) => {
    const key = `${violation.rule} ${violation.path.join(".")}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(violation);
    }
  };
  const sessionOf = (index: number): { session: SessionAuthConfig; at: (string | number)[] } | undefined => {
    const route = config.routes[index]!;
    const auth = route.auth === undefined ? config.defaults.auth : route.auth;
    const session = auth ? auth.session : undefined;
    if (!session) return undefined;
    return {
      session,
      at: route.auth === undefined ? ["defaults", "auth", "session"] : ["routes", index, "auth", "session"],
    };
  };

  const settings = config.server.sessions;
  if (settings) {
    [settings.secret, ...settings.previousSecrets].forEach((secret, index) => {
      const path =
        index === 0 ? ["server", "sessions", "secret"] : ["server", "sessions", "previousSecrets", index - 1];
      if (!secretPaths.has(pathKey(path))) {
        add({
          rule: "session-secret-literal",
          path,
          message:
            "the secret is a literal in the config file, where anyone who reads the file can forge session cookies",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference shown to the user
          fix: 'write secret: "${file:/run/secrets/session-secret}" (make one with: openssl rand -base64 48)',
        });
      } else if (secret.length < MIN_SECRET_LENGTH) {
        add({
          rule: "session-secret-short",
          path,
          message: `the secret has ${secret.length} characters; at least ${MIN_SECRET_LENGTH} are needed`,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference shown to the user
          fix: "generate one with `openssl rand -base64 48` and reference it as ${file:/run/secrets/session-secret}",
        });
      }
    });
  }

  const signsIn = config.routes.some((_, index) => sessionOf(index) !== undefined);
  if (settings && signsIn && settings.store.type === "memory" && config.server.workers !== 1) {
    add({
      rule: "session-store-per-process",
      path: ["server", "sessions", "store"],
      message: `server.workers is ${config.server.workers} and each worker would keep its own sessions`,
      fix: "use store: { type: redis, url: … } so every worker (and instance) shares the sessions",
    });
  }

  config.routes.forEach((route, index) => {
    const found = sessionOf(index);
    if (!found) return;
    const { session, at } = found;
    if (!secretPaths.has(pathKey([...at, "clientSecret"]))) {
      add({
        rule: "session-client-secret-literal",
        path: [...at, "clientSecret"],
        message:
          "the client secret is a literal in the config file, where anyone who reads the file can use it",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference shown to the user
        fix: 'write clientSecret: "${file:/run/secrets/oidc-client-secret}"',
      });
    }
    if (!settings) {
      add({
        rule: "session-secret-missing",
        path: at,
        message: "sessions need a cookie signing secret and a store",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a config reference shown to the user
        fix: "set server.sessions.secret (e.g. ${file:/run/secrets/session-secret}, 32 characters or more)",
      });
    }
    const redirect = new URL(session.redirectUrl);
    if (redirect.protocol === "http:" && !isLoopbackHost(redirect.hostname)) {
      add({
        rule: "session-redirect-insecure",
        path: [...at, "redirectUrl"],
        message: `${redirect.origin} would carry authorization codes and session cookies in clear`,
        fix: "use an https:// redirectUrl served by a TLS listener (or a TLS proxy in front)",
      });
    }
    const callback = redirect.pathname;
    // The route that takes the callback on this route's hosts: the longest covering prefix.
    let taker: number | undefined;
    config.routes.forEach((candidate, candidateIndex) => {
      const sameHosts =
        hostKey(candidate.match.host) === hostKey(route.match.host) || candidate.match.host === undefined;
      if (!sameHosts || !covers(candidate.match.pathPrefix, callback)) return;
      const current = taker === undefined ? undefined : config.routes[taker]!;
      if (
        current === undefined ||
        normalize(candidate.match.pathPrefix).length > normalize(current.match.pathPrefix).length
      ) {
        taker = candidateIndex;
      }
    });
    const takerSession = taker === undefined ? undefined : sessionOf(taker)?.session;
    const answered =
      callback.endsWith(CALLBACK_PATH_SUFFIX) &&
      takerSession !== undefined &&
      takerSession.issuer === session.issuer &&
      takerSession.clientId === session.clientId &&
      takerSession.redirectUrl === session.redirectUrl;
    if (!answered) {
      add({
        rule: "session-redirect-unrouted",
        path: [...at, "redirectUrl"],
        message: `the gateway would not answer the sign-in callback at ${callback}`,
        fix: `use a path ending with ${CALLBACK_PATH_SUFFIX} under a route with this same auth.session (such as ${normalize(route.match.pathPrefix) === "/" ? "" : normalize(route.match.pathPrefix)}${CALLBACK_PATH_SUFFIX})`,
      });
    }
  });
  return out;
}
