/**
 * Every finding id `bulwark check` can report, with its default severity, why it matters,
 * references and the fix. Ids are stable: CI waivers and dashboards key on them, so an id is
 * never renamed or reused for another meaning. docs/checks.md lists the same table (a unit test
 * keeps the two in step).
 *
 * References: OWASP ASVS 4.0.3 (V-numbers), the MDN HTTP Observatory scoring rules, the SSL Labs
 * Server Rating Guide, the CIS Docker Benchmark 1.6 and MITRE CWE.
 */
import type { Severity } from "./findings.js";

export interface CatalogEntry {
  readonly severity: Severity;
  readonly category: string;
  readonly title: string;
  readonly rationale: string;
  readonly remediation: string;
  /** The Bulwark gateway setting that fixes it, when one does. */
  readonly gateway?: string;
  readonly cwe?: number;
  readonly references?: readonly string[];
}

type Row = [id: string, entry: CatalogEntry];

const OBS = "MDN HTTP Observatory";
const SSLLABS = "SSL Labs Server Rating Guide";
const CIS = "CIS Docker Benchmark";

const SECRET_FIX =
  "revoke and rotate the credential at its provider, remove it from the file (and from history with git filter-repo), load it from the environment or a secret manager";

const rows: Row[] = [
  // ── secrets ────────────────────────────────────────────────────────────────────────────────
  ...(
    [
      [
        "secret-aws-access-key",
        "critical",
        "AWS access key id",
        "an AWS access key id (AKIA/ASIA…) grants API access to the account when paired with its secret",
      ],
      [
        "secret-aws-secret-key",
        "critical",
        "AWS secret access key",
        "an AWS secret access key assigned next to an AWS key name signs API requests",
      ],
      [
        "secret-gcp-service-account",
        "critical",
        "GCP service account key",
        "a Google Cloud service-account JSON key carries a private key that acts as the account",
      ],
      [
        "secret-github-token",
        "critical",
        "GitHub token",
        "a GitHub personal access, OAuth, app or refresh token (ghp_/gho_/ghu_/ghs_/ghr_/github_pat_) acts as its owner",
      ],
      [
        "secret-gitlab-token",
        "critical",
        "GitLab token",
        "a GitLab personal, project or runner token (glpat-/glrt-/GR1348941) acts as its owner",
      ],
      [
        "secret-slack-token",
        "high",
        "Slack token",
        "a Slack bot, user or app token (xox?-) reads and posts in the workspace",
      ],
      [
        "secret-slack-webhook",
        "high",
        "Slack incoming webhook URL",
        "anyone with the webhook URL can post into the channel",
      ],
      [
        "secret-stripe-key",
        "critical",
        "Stripe live secret key",
        "a live Stripe secret or restricted key (sk_live_/rk_live_) moves money",
      ],
      [
        "secret-private-key",
        "critical",
        "private key",
        "a PEM/OpenSSH private key block lets its holder impersonate the key's owner or decrypt its traffic",
      ],
      [
        "secret-jwt",
        "medium",
        "JSON Web Token",
        "a signed JWT in source is a bearer credential until it expires, and often never expires",
      ],
      [
        "secret-connection-string",
        "high",
        "connection string with a password",
        "a database or broker URL with an embedded password (scheme://user:password@host) opens the data store",
      ],
      [
        "secret-generic",
        "medium",
        "high-entropy secret assignment",
        "a high-entropy value assigned to a name such as password, secret, token or api_key is most likely a real credential",
      ],
    ] as const
  ).map(
    ([id, severity, title, rationale]): Row => [
      id,
      {
        severity,
        category: "secrets",
        title,
        rationale,
        remediation: SECRET_FIX,
        cwe: 798,
        references: ["OWASP ASVS V2.10.4", "OWASP ASVS V6.4.1", "CWE-798"],
      },
    ],
  ),

  // ── Dockerfile ─────────────────────────────────────────────────────────────────────────────
  [
    "docker-user-root",
    {
      severity: "high",
      category: "containers",
      title: "container runs as root",
      rationale:
        "without a USER instruction (or with USER root/0 last), a process escaping the application runs as root inside the container, one kernel bug away from the host",
      remediation:
        "add a non-root user and `USER app` (or a numeric uid) after the last step that needs root",
      cwe: 250,
      references: [`${CIS} 4.1`, "CWE-250"],
    },
  ],
  [
    "docker-base-latest",
    {
      severity: "medium",
      category: "containers",
      title: "base image is `latest` or untagged",
      rationale:
        "an untagged or `latest` base changes under the build: builds are not reproducible and a rebuild can pull a broken or compromised image",
      remediation:
        "pin the base image to a version tag, better to a digest (`FROM node:20.18-bookworm@sha256:…`)",
      cwe: 1357,
      references: [`${CIS} 4.2`, "hadolint DL3007", "CWE-1357"],
    },
  ],
  [
    "docker-base-unpinned",
    {
      severity: "low",
      category: "containers",
      title: "base image tag not pinned to a digest",
      rationale: "a tag can be moved to a different image; only a digest names exactly what was reviewed",
      remediation: "add the digest: `FROM image:tag@sha256:…` (Renovate/Dependabot keep it current)",
      cwe: 1357,
      references: [`${CIS} 4.2`, "CWE-1357"],
    },
  ],
  [
    "docker-add-url",
    {
      severity: "medium",
      category: "containers",
      title: "ADD downloads from a URL",
      rationale:
        "ADD with a URL fetches without checksum verification and keeps the file in a layer; a compromised or changed source lands in the image",
      remediation:
        "download with curl/wget in a RUN step and verify a checksum, or use `ADD --checksum=sha256:…`",
      cwe: 494,
      references: [`${CIS} 4.9`, "hadolint DL3020", "CWE-494"],
    },
  ],
  [
    "docker-secret-in-env",
    {
      severity: "high",
      category: "containers",
      title: "secret in ENV or ARG",
      rationale:
        "ENV and ARG values are stored in the image metadata and history (`docker history`), readable by anyone who can pull the image",
      remediation:
        "pass secrets at run time (environment, mounted files) or with BuildKit `RUN --mount=type=secret`",
      cwe: 538,
      references: [`${CIS} 4.10`, "OWASP ASVS V14.1.3", "CWE-538"],
    },
  ],
  [
    "docker-no-healthcheck",
    {
      severity: "low",
      category: "containers",
      title: "no HEALTHCHECK",
      rationale:
        "without a health check the runtime cannot tell a hung process from a healthy one and keeps routing to it",
      remediation:
        "add `HEALTHCHECK CMD …` that calls the service's health endpoint (Bulwark's admin listener serves /live and /ready)",
      references: [`${CIS} 4.6`],
    },
  ],

  // ── docker-compose ─────────────────────────────────────────────────────────────────────────
  [
    "compose-privileged",
    {
      severity: "critical",
      category: "containers",
      title: "service runs privileged",
      rationale:
        "`privileged: true` gives the container every capability and all host devices: root in it is root on the host",
      remediation: "remove `privileged: true`; add only the capabilities the service needs with cap_add",
      cwe: 250,
      references: [`${CIS} 5.4`, "CWE-250"],
    },
  ],
  [
    "compose-host-network",
    {
      severity: "high",
      category: "containers",
      title: "service uses the host network",
      rationale:
        "`network_mode: host` removes network isolation: the container sees and binds every host interface, including loopback-only services",
      remediation: "use a bridge network and publish only the ports clients need",
      references: [`${CIS} 5.9`],
    },
  ],
  [
    "compose-docker-socket",
    {
      severity: "critical",
      category: "containers",
      title: "Docker socket mounted",
      rationale: "whoever controls /var/run/docker.sock starts privileged containers: it is root on the host",
      remediation:
        "remove the socket mount; if a tool needs the API, put a filtering socket proxy in front with read-only endpoints",
      cwe: 250,
      references: [`${CIS} 5.31`, "CWE-250"],
    },
  ],
  [
    "compose-no-resource-limits",
    {
      severity: "medium",
      category: "containers",
      title: "no memory or CPU limit",
      rationale:
        "one runaway or attacked service can exhaust the host's memory or CPU and take every other service down with it",
      remediation: "set `mem_limit`/`cpus` or `deploy.resources.limits.memory`/`cpus`",
      cwe: 770,
      references: [`${CIS} 5.10`, `${CIS} 5.11`, "CWE-770"],
    },
  ],
  [
    "compose-writable-rootfs",
    {
      severity: "low",
      category: "containers",
      title: "root filesystem writable",
      rationale:
        "a read-only root filesystem stops an intruder from dropping tools or changing the application in place",
      remediation: "set `read_only: true` and mount tmpfs or volumes where the service writes",
      references: [`${CIS} 5.12`],
    },
  ],
  [
    "compose-caps-not-dropped",
    {
      severity: "low",
      category: "containers",
      title: "capabilities not dropped",
      rationale:
        "containers start with a default capability set (NET_RAW, CHOWN, SETUID…) that most services never use",
      remediation: "set `cap_drop: [ALL]` and add back only what the service needs with cap_add",
      references: [`${CIS} 5.3`],
    },
  ],

  // ── config smells ──────────────────────────────────────────────────────────────────────────
  [
    "config-env-file-committed",
    {
      severity: "high",
      category: "config",
      title: ".env file committed",
      rationale:
        ".env files hold per-environment secrets; committed, they reach every clone, fork and CI log",
      remediation:
        "remove the file from the repository and history, add `.env` to .gitignore, commit a `.env.example` without values",
      cwe: 538,
      references: ["OWASP ASVS V14.3.3", "CWE-538"],
    },
  ],
  [
    "config-key-file-committed",
    {
      severity: "high",
      category: "config",
      title: "key or keystore file committed",
      rationale: "key files (.pem with a private key, .key, .p12, .pfx, .jks, id_rsa) are credentials",
      remediation:
        "remove the file from the repository and history, rotate the key, keep keys in a secret manager or mounted at run time",
      cwe: 321,
      references: ["OWASP ASVS V6.4.1", "CWE-321"],
    },
  ],
  [
    "config-tls-disabled",
    {
      severity: "medium",
      category: "config",
      title: "TLS disabled in a connection setting",
      rationale:
        "sslmode set to disable, rejectUnauthorized or verify set to false, NODE_TLS_REJECT_UNAUTHORIZED set to 0: credentials and data cross the network in clear, or any certificate is trusted",
      remediation: "require TLS and verify the server (`sslmode=verify-full`, `rejectUnauthorized: true`)",
      cwe: 319,
      references: ["OWASP ASVS V9.2.2", "CWE-319", "CWE-295"],
    },
  ],
  [
    "config-cors-wildcard",
    {
      severity: "medium",
      category: "config",
      title: "CORS allows any origin in code",
      rationale:
        "a wildcard Access-Control-Allow-Origin (or a cors middleware called without options, or an origin option of star or true) in application code lets any site read responses; with credentials-based auth it is an account-takeover vector",
      remediation: "list the allowed origins explicitly, or answer CORS at the gateway",
      gateway: "routes[].cors.origins (exact origins; `*` with credentials is refused at load)",
      cwe: 942,
      references: ["OWASP ASVS V14.5.3", "CWE-942"],
    },
  ],
  [
    "config-debug-enabled",
    {
      severity: "medium",
      category: "config",
      title: "debug mode enabled in configuration",
      rationale:
        "debug modes (DEBUG=True, app.debug, NODE_ENV=development, display_errors=On) print stack traces, settings and sometimes an interactive console",
      remediation:
        "turn debug off in production configuration and make it an explicit opt-in per environment",
      cwe: 489,
      references: ["OWASP ASVS V14.3.2", "CWE-489"],
    },
  ],

  // ── dependencies ───────────────────────────────────────────────────────────────────────────
  [
    "dep-vulnerable",
    {
      severity: "high",
      category: "dependencies",
      title: "dependency with a known vulnerability",
      rationale:
        "a locked dependency version falls in an advisory's affected range; severity follows the advisory (its CVSS score or database severity)",
      remediation:
        "upgrade to a fixed version named in the evidence (or remove the dependency); regenerate the lockfile",
      cwe: 1395,
      references: ["OWASP ASVS V14.2.1", "OWASP Top 10 A06:2021", "CWE-1395"],
    },
  ],

  // ── live service: headers ──────────────────────────────────────────────────────────────────
  [
    "hdr-csp-missing",
    {
      severity: "medium",
      category: "headers",
      title: "no Content-Security-Policy",
      rationale:
        "CSP is the main defence in depth against XSS and injected content; the Observatory deducts 25 without it",
      remediation:
        "send a CSP with default-src 'self' (or 'none'), object-src 'none', base-uri and frame-ancestors",
      gateway: "routes[].headers.profile: strict | api | webapp",
      cwe: 1021,
      references: ["OWASP ASVS V14.4.3", `${OBS}: content-security-policy`, "CWE-1021"],
    },
  ],
  [
    "hdr-csp-unsafe-inline",
    {
      severity: "medium",
      category: "headers",
      title: "CSP allows 'unsafe-inline' scripts",
      rationale:
        "'unsafe-inline' in script-src (or default-src) without nonces or hashes lets injected inline script run: the CSP no longer stops XSS",
      remediation:
        "move inline scripts to files or use nonces/hashes ('strict-dynamic'), then drop 'unsafe-inline'",
      gateway: "routes[].headers.profile (no profile allows 'unsafe-inline'); remove it from headers.set",
      cwe: 79,
      references: ["OWASP ASVS V14.4.3", `${OBS}: csp-implemented-unsafe-inline`, "CWE-79"],
    },
  ],
  [
    "hdr-csp-unsafe-eval",
    {
      severity: "medium",
      category: "headers",
      title: "CSP allows 'unsafe-eval'",
      rationale: "'unsafe-eval' lets strings become code (eval, new Function), a common DOM-XSS sink",
      remediation: "remove 'unsafe-eval'; replace eval-based templating with precompiled templates",
      gateway: "routes[].headers.profile; remove it from headers.set",
      cwe: 95,
      references: ["OWASP ASVS V14.4.3", `${OBS}: csp-implemented-unsafe-eval`, "CWE-95"],
    },
  ],
  [
    "hdr-csp-wildcard",
    {
      severity: "medium",
      category: "headers",
      title: "CSP allows scripts from any origin",
      rationale:
        "`*`, `http:`, `https:` or `data:` as a script source (or in default-src) lets an attacker load script from a host they control",
      remediation: "list exact script origins or use 'self' with nonces",
      gateway: "routes[].headers.profile",
      cwe: 829,
      references: [`${OBS}: csp-implemented-unsafe-inline-or-insecure-schemes`, "CWE-829"],
    },
  ],
  [
    "hdr-csp-no-object-src",
    {
      severity: "low",
      category: "headers",
      title: "CSP does not restrict plugins (object-src)",
      rationale:
        "without object-src 'none' (or a default-src of 'none'/'self'), plugin content can run script",
      remediation: "add object-src 'none'",
      gateway: "routes[].headers.profile: strict",
      references: [`${OBS}: content-security-policy`],
    },
  ],
  [
    "hdr-csp-no-frame-ancestors",
    {
      severity: "low",
      category: "headers",
      title: "CSP has no frame-ancestors",
      rationale: "frame-ancestors is the current clickjacking defence; default-src does not cover it",
      remediation: "add frame-ancestors 'none' (or 'self')",
      gateway: "routes[].headers.profile",
      cwe: 1021,
      references: ["OWASP ASVS V14.4.7", "CWE-1021"],
    },
  ],
  [
    "hdr-hsts-missing",
    {
      severity: "medium",
      category: "headers",
      title: "no Strict-Transport-Security on HTTPS",
      rationale:
        "without HSTS on the first HTTPS response, a network attacker can strip TLS on the user's next plain http:// visit (Observatory −20)",
      remediation:
        "send Strict-Transport-Security: max-age=63072000; includeSubDomains on every HTTPS response",
      gateway: "listeners[].tls with any headers profile except off (HSTS is sent on HTTPS responses)",
      cwe: 319,
      references: ["OWASP ASVS V14.4.5", `${OBS}: strict-transport-security`, "RFC 6797", "CWE-319"],
    },
  ],
  [
    "hdr-hsts-short",
    {
      severity: "low",
      category: "headers",
      title: "HSTS max-age shorter than six months",
      rationale:
        "the Observatory requires at least 15552000 s; a short max-age leaves users exposed between visits",
      remediation: "set max-age to at least 15552000 (two years, 63072000, is the preload requirement)",
      gateway: "routes[].headers.profile (sends max-age=63072000)",
      references: [`${OBS}: hsts-implemented-max-age-less-than-six-months`, "RFC 6797"],
    },
  ],
  [
    "hdr-hsts-no-subdomains",
    {
      severity: "info",
      category: "headers",
      title: "HSTS without includeSubDomains",
      rationale:
        "subdomains stay reachable over plain HTTP, where cookies for the parent domain can be injected",
      remediation: "add includeSubDomains once every subdomain serves HTTPS",
      gateway: "routes[].headers.profile",
      references: ["RFC 6797 §6.1.2"],
    },
  ],
  [
    "hdr-xcto-missing",
    {
      severity: "low",
      category: "headers",
      title: "no X-Content-Type-Options: nosniff",
      rationale: "browsers may sniff a response into an executable type (MIME confusion); Observatory −5",
      remediation: "send X-Content-Type-Options: nosniff",
      gateway: "routes[].headers.profile",
      cwe: 430,
      references: ["OWASP ASVS V14.4.4", `${OBS}: x-content-type-options`],
    },
  ],
  [
    "hdr-frame-missing",
    {
      severity: "medium",
      category: "headers",
      title: "no clickjacking protection",
      rationale:
        "neither X-Frame-Options nor CSP frame-ancestors: any site can frame the page and trick clicks (Observatory −20)",
      remediation: "send CSP frame-ancestors 'none' (and X-Frame-Options: DENY for old browsers)",
      gateway: "routes[].headers.profile",
      cwe: 1021,
      references: ["OWASP ASVS V14.4.7", `${OBS}: x-frame-options`, "CWE-1021"],
    },
  ],
  [
    "hdr-referrer-missing",
    {
      severity: "low",
      category: "headers",
      title: "no Referrer-Policy",
      rationale:
        "full URLs (with tokens in paths or queries) can leak to other sites through the Referer header",
      remediation: "send Referrer-Policy: no-referrer or strict-origin-when-cross-origin",
      gateway: "routes[].headers.profile",
      cwe: 200,
      references: ["OWASP ASVS V14.4.6", `${OBS}: referrer-policy`],
    },
  ],
  [
    "hdr-referrer-unsafe",
    {
      severity: "low",
      category: "headers",
      title: "Referrer-Policy leaks full URLs",
      rationale:
        "unsafe-url, no-referrer-when-downgrade or origin-when-cross-origin send paths or origins to other sites (Observatory −5 for unsafe)",
      remediation: "use no-referrer, same-origin, strict-origin or strict-origin-when-cross-origin",
      gateway: "routes[].headers.profile",
      cwe: 200,
      references: [`${OBS}: referrer-policy-unsafe`],
    },
  ],
  [
    "hdr-permissions-missing",
    {
      severity: "info",
      category: "headers",
      title: "no Permissions-Policy",
      rationale:
        "the page and every frame it embeds may ask for camera, microphone, geolocation and other powerful features",
      remediation: "send a Permissions-Policy that denies features the site does not use",
      gateway: "routes[].headers.profile",
      references: ["OWASP Secure Headers Project"],
    },
  ],
  [
    "hdr-coop-missing",
    {
      severity: "info",
      category: "headers",
      title: "no Cross-Origin-Opener-Policy",
      rationale:
        "other windows keep a reference to the page (window.opener), which XS-Leaks and Spectre-style attacks use",
      remediation: "send Cross-Origin-Opener-Policy: same-origin",
      gateway: "routes[].headers.profile",
      references: ["OWASP Secure Headers Project"],
    },
  ],
  [
    "hdr-corp-missing",
    {
      severity: "info",
      category: "headers",
      title: "no Cross-Origin-Resource-Policy",
      rationale: "other sites can load the response into their own process as an image or script (Spectre)",
      remediation: "send Cross-Origin-Resource-Policy: same-origin (or same-site)",
      gateway: "routes[].headers.profile",
      references: [`${OBS}: cross-origin-resource-policy`],
    },
  ],
  [
    "hdr-coep-missing",
    {
      severity: "info",
      category: "headers",
      title: "no Cross-Origin-Embedder-Policy",
      rationale:
        "only needed for cross-origin isolation (SharedArrayBuffer, precise timers); reported for completeness",
      remediation:
        "send Cross-Origin-Embedder-Policy: require-corp when the page needs cross-origin isolation",
      gateway: "routes[].headers.set",
      references: ["OWASP Secure Headers Project"],
    },
  ],

  // ── cookies ────────────────────────────────────────────────────────────────────────────────
  [
    "cookie-no-secure",
    {
      severity: "medium",
      category: "cookies",
      title: "cookie without Secure",
      rationale:
        "the browser also sends the cookie over plain HTTP, where a network attacker reads it (Observatory −20 for session cookies)",
      remediation: "set the Secure attribute on every cookie of an HTTPS site",
      cwe: 614,
      references: ["OWASP ASVS V3.4.1", `${OBS}: cookies`, "CWE-614"],
    },
  ],
  [
    "cookie-no-httponly",
    {
      severity: "medium",
      category: "cookies",
      title: "session cookie without HttpOnly",
      rationale: "a script injected into the page (XSS) can read a session cookie that lacks HttpOnly",
      remediation: "set HttpOnly on session cookies",
      cwe: 1004,
      references: ["OWASP ASVS V3.4.2", `${OBS}: cookies-session-without-httponly-flag`, "CWE-1004"],
    },
  ],
  [
    "cookie-no-samesite",
    {
      severity: "low",
      category: "cookies",
      title: "cookie without SameSite",
      rationale: "without SameSite=Lax or Strict the cookie rides on cross-site requests: CSRF",
      remediation: "set SameSite=Lax (or Strict) explicitly",
      cwe: 1275,
      references: ["OWASP ASVS V3.4.3", "CWE-1275"],
    },
  ],
  [
    "cookie-no-host-prefix",
    {
      severity: "info",
      category: "cookies",
      title: "session cookie without the __Host- prefix",
      rationale:
        "the __Host- prefix makes the browser refuse the cookie unless it is Secure, host-only and Path=/: subdomains cannot overwrite it",
      remediation: "name session cookies __Host-… with Secure and Path=/",
      references: ["OWASP ASVS V3.4.4"],
    },
  ],

  // ── CORS ───────────────────────────────────────────────────────────────────────────────────
  [
    "cors-reflect-credentials",
    {
      severity: "critical",
      category: "cors",
      title: "CORS reflects any origin with credentials",
      rationale:
        "any web page the victim opens can make credentialed requests and read the answers: account takeover",
      remediation: "answer CORS with an explicit list of trusted origins",
      gateway: "routes[].cors: { origins: [exact origins], credentials: true }",
      cwe: 942,
      references: ["OWASP ASVS V14.5.3", "PortSwigger: CORS misconfiguration", "CWE-942"],
    },
  ],
  [
    "cors-null-origin",
    {
      severity: "high",
      category: "cors",
      title: "CORS trusts the `null` origin",
      rationale: "sandboxed iframes and file: pages send Origin: null, so any attacker page can present it",
      remediation: "never allow the origin `null`",
      gateway: 'routes[].cors.origins (the gateway refuses "null" at load)',
      cwe: 942,
      references: ["OWASP ASVS V14.5.3", "CWE-942"],
    },
  ],
  [
    "cors-reflect-origin",
    {
      severity: "medium",
      category: "cors",
      title: "CORS reflects any origin",
      rationale:
        "any site can read the responses (without cookies); fine for public data, a leak for anything behind network-based trust",
      remediation: "list the allowed origins",
      gateway: "routes[].cors.origins",
      cwe: 942,
      references: ["OWASP ASVS V14.5.3", "CWE-942"],
    },
  ],
  [
    "cors-wildcard",
    {
      severity: "low",
      category: "cors",
      title: "CORS allows any origin (*)",
      rationale: "every site can read the responses; acceptable for public, unauthenticated data only",
      remediation: "list the allowed origins unless the resource is public",
      gateway: "routes[].cors.origins",
      cwe: 942,
      references: [`${OBS}: cross-origin-resource-sharing`],
    },
  ],

  // ── transport ──────────────────────────────────────────────────────────────────────────────
  [
    "tls-not-used",
    {
      severity: "high",
      category: "transport",
      title: "service answers over plain HTTP only",
      rationale:
        "everything, credentials included, crosses the network in clear and can be changed in transit",
      remediation: "serve HTTPS and redirect HTTP to it",
      gateway: "listeners[].tls and a listeners[].redirectToHttps listener",
      cwe: 319,
      references: ["OWASP ASVS V9.1.1", "CWE-319"],
    },
  ],
  [
    "tls-no-redirect",
    {
      severity: "medium",
      category: "transport",
      title: "HTTP does not redirect to HTTPS",
      rationale: "users typing the bare name land on plain HTTP and stay there (Observatory −20)",
      remediation: "answer plain HTTP with a 301/308 redirect to the same host over HTTPS",
      gateway: "listeners[].redirectToHttps",
      cwe: 319,
      references: [`${OBS}: redirection`, "CWE-319"],
    },
  ],
  [
    "tls-legacy-protocol",
    {
      severity: "high",
      category: "transport",
      title: "TLS 1.0 or 1.1 offered",
      rationale: "TLS 1.0/1.1 are deprecated (RFC 8996); SSL Labs caps the grade at B",
      remediation: "offer TLS 1.2 and 1.3 only",
      gateway: "listeners[].tls.minVersion (TLSv1.2 default, or TLSv1.3)",
      cwe: 327,
      references: ["OWASP ASVS V9.1.3", SSLLABS, "RFC 8996", "CWE-327"],
    },
  ],
  [
    "tls-weak-cipher",
    {
      severity: "high",
      category: "transport",
      title: "weak cipher suite accepted",
      rationale:
        "NULL, EXPORT, RC4, DES/3DES or anonymous suites can be broken or give no authentication; SSL Labs caps at F (RC4/3DES at C)",
      remediation: "offer only AEAD suites (AES-GCM, ChaCha20-Poly1305) with ECDHE",
      gateway: "listeners[].tls (Bulwark uses Node's default suites, none of them weak)",
      cwe: 327,
      references: ["OWASP ASVS V9.1.2", SSLLABS, "CWE-327"],
    },
  ],
  [
    "tls-no-tls13",
    {
      severity: "low",
      category: "transport",
      title: "TLS 1.3 not offered",
      rationale:
        "TLS 1.3 drops the legacy key exchanges and suites TLS 1.2 still allows and saves a round trip on every new connection; Mozilla's intermediate and modern configurations and NIST SP 800-52 Rev. 2 expect it",
      remediation: "offer TLS 1.3 beside TLS 1.2 (nginx: ssl_protocols TLSv1.2 TLSv1.3)",
      gateway: "listeners[].tls (TLS 1.3 is on by default; minVersion TLSv1.3 makes it the only one)",
      references: ["Mozilla Server Side TLS", "NIST SP 800-52 Rev. 2", "RFC 8446"],
    },
  ],
  [
    "tls-no-forward-secrecy",
    {
      severity: "medium",
      category: "transport",
      title: "suites without forward secrecy accepted",
      rationale:
        "with static RSA key exchange, a stolen server key decrypts all recorded past traffic; SSL Labs caps at B",
      remediation: "offer ECDHE (or DHE) key exchange only",
      gateway: "listeners[].tls",
      cwe: 327,
      references: ["OWASP ASVS V9.1.2", SSLLABS],
    },
  ],
  [
    "tls-cert-expired",
    {
      severity: "critical",
      category: "transport",
      title: "certificate expired or not yet valid",
      rationale: "browsers refuse the connection; SSL Labs grades T/F",
      remediation: "renew the certificate (automate with ACME)",
      gateway: "listeners[].tls.cert (re-read when it changes on disk)",
      cwe: 298,
      references: [SSLLABS, "CWE-298"],
    },
  ],
  [
    "tls-cert-expiring",
    {
      severity: "medium",
      category: "transport",
      title: "certificate expires within 30 days",
      rationale: "renewal that has not happened 30 days before expiry is usually broken",
      remediation: "renew now and check the renewal job",
      gateway: "listeners[].tls.cert (re-read when it changes on disk)",
      references: [SSLLABS],
    },
  ],
  [
    "tls-cert-hostname",
    {
      severity: "critical",
      category: "transport",
      title: "certificate does not match the host name",
      rationale: "clients refuse it, or users learn to click through warnings",
      remediation: "issue a certificate whose subjectAltName covers the host",
      cwe: 297,
      references: ["OWASP ASVS V9.2.1", SSLLABS, "CWE-297"],
    },
  ],
  [
    "tls-cert-untrusted",
    {
      severity: "high",
      category: "transport",
      title: "certificate chain not trusted",
      rationale: "self-signed, unknown CA or incomplete chain: clients refuse it (SSL Labs: T)",
      remediation: "serve the full chain from a publicly trusted CA (or pass the private CA with --ca)",
      cwe: 295,
      references: ["OWASP ASVS V9.2.1", SSLLABS, "CWE-295"],
    },
  ],
  [
    "tls-weak-key",
    {
      severity: "high",
      category: "transport",
      title: "certificate key too small",
      rationale:
        "RSA below 2048 bits or EC below 256 bits is within reach of factoring/discrete-log attacks; SSL Labs caps at F below 1024 and B below 2048",
      remediation: "issue a certificate with RSA 2048+ or ECDSA P-256+",
      cwe: 326,
      references: ["OWASP ASVS V6.2.1", SSLLABS, "CWE-326"],
    },
  ],
  [
    "tls-handshake-failed",
    {
      severity: "critical",
      category: "transport",
      title: "TLS handshake failed",
      rationale: "clients cannot establish HTTPS with the default protocol settings",
      remediation: "check the certificate, key and protocol settings of the listener",
      gateway: "listeners[].tls",
      references: [SSLLABS],
    },
  ],
  [
    "target-unreachable",
    {
      severity: "critical",
      category: "transport",
      title: "target unreachable",
      rationale: "the service did not answer: nothing else could be checked",
      remediation: "check the URL, DNS, firewall and that the service runs",
    },
  ],

  // ── disclosure ─────────────────────────────────────────────────────────────────────────────
  [
    "disc-server-version",
    {
      severity: "low",
      category: "disclosure",
      title: "server software version disclosed",
      rationale: "a version in Server or similar headers tells an attacker which exploits to try",
      remediation: "hide versions (nginx: server_tokens off) or strip the header at the gateway",
      gateway: "routes[].headers.stripBanners (default true)",
      cwe: 200,
      references: ["OWASP ASVS V14.3.3", "CWE-200"],
    },
  ],
  [
    "disc-powered-by",
    {
      severity: "low",
      category: "disclosure",
      title: "framework disclosed (X-Powered-By and similar)",
      rationale: "framework and version banners narrow an attack to known exploits",
      remediation: "switch the banner off in the framework or strip it at the gateway",
      gateway: "routes[].headers.stripBanners (default true)",
      cwe: 200,
      references: ["OWASP ASVS V14.3.3", "CWE-200"],
    },
  ],
  [
    "disc-stack-trace",
    {
      severity: "medium",
      category: "disclosure",
      title: "stack trace or verbose error in a response",
      rationale:
        "stack traces reveal file paths, library versions and code structure, and show that errors are unhandled",
      remediation: "return generic error pages in production; log details server-side",
      gateway:
        "the gateway's own errors are RFC 9457 problems without internals; upstream bodies are passed through, so fix the application",
      cwe: 209,
      references: ["OWASP ASVS V7.4.1", "CWE-209"],
    },
  ],
  [
    "disc-trace-enabled",
    {
      severity: "low",
      category: "disclosure",
      title: "TRACE method enabled",
      rationale:
        "TRACE echoes the request, including cookies and auth headers, which cross-site tracing abuses",
      remediation: "disable TRACE",
      gateway: "any route: the gateway answers TRACE with 405",
      cwe: 693,
      references: ["OWASP ASVS V14.5.1", "CWE-693"],
    },
  ],
  [
    "disc-directory-listing",
    {
      severity: "medium",
      category: "disclosure",
      title: "directory listing enabled",
      rationale: "lists files never meant to be linked: backups, sources, uploads",
      remediation: "switch autoindex/directory browsing off",
      cwe: 548,
      references: ["OWASP ASVS V14.3.2", "CWE-548"],
    },
  ],
  [
    "disc-env-file",
    {
      severity: "critical",
      category: "disclosure",
      title: "/.env served",
      rationale: "a served .env file usually holds database passwords and API keys",
      remediation: "never serve the project directory; deny dotfiles at the web server",
      cwe: 538,
      references: ["OWASP ASVS V14.3.3", "CWE-538"],
    },
  ],
  [
    "disc-git-exposed",
    {
      severity: "high",
      category: "disclosure",
      title: "/.git served",
      rationale:
        "a served .git folder lets anyone download the full source and its history, secrets included",
      remediation: "deny dotfiles at the web server; deploy build artifacts, not a checkout",
      cwe: 527,
      references: ["CWE-527"],
    },
  ],
  [
    "disc-server-status",
    {
      severity: "medium",
      category: "disclosure",
      title: "server status page public",
      rationale: "Apache/nginx status pages show client addresses, requested URLs and load",
      remediation: "restrict the status page to the operators' network",
      cwe: 200,
      references: ["CWE-200"],
    },
  ],
  [
    "disc-actuator",
    {
      severity: "high",
      category: "disclosure",
      title: "Spring Boot actuator public",
      rationale: "actuator endpoints (env, heapdump, configprops) expose settings, secrets and memory",
      remediation: "expose actuator on a management port bound to an internal address",
      cwe: 215,
      references: ["CWE-215"],
    },
  ],
  [
    "disc-debug-endpoint",
    {
      severity: "high",
      category: "disclosure",
      title: "debug endpoint public",
      rationale: "debug endpoints (/debug, pprof, consoles) expose internals and sometimes run code",
      remediation: "remove debug routes from production builds or bind them to an internal address",
      cwe: 489,
      references: ["OWASP ASVS V14.3.2", "CWE-489"],
    },
  ],
  [
    "disc-backup-file",
    {
      severity: "high",
      category: "disclosure",
      title: "backup or archive file served",
      rationale: "backups and archives of the site contain its source and often credentials",
      remediation: "remove backups from the document root",
      cwe: 530,
      references: ["CWE-530"],
    },
  ],

  // ── application symptoms ───────────────────────────────────────────────────────────────────
  [
    "app-open-redirect",
    {
      severity: "medium",
      category: "application",
      title: "open redirect",
      rationale:
        "a redirect to any URL given in a parameter lends the site's name to phishing and token theft",
      remediation: "redirect only to relative paths or an allow-list of hosts",
      cwe: 601,
      references: ["OWASP ASVS V5.1.5", "CWE-601"],
    },
  ],
  [
    "app-reflected-input",
    {
      severity: "high",
      category: "application",
      title: "input reflected unescaped in HTML",
      rationale: "markup from the request came back unescaped in an HTML page: reflected XSS is likely",
      remediation: "encode output for its context (HTML, attribute, JS); keep a strict CSP as a second line",
      gateway: "routes[].headers.profile (a strict CSP blocks inline script as defence in depth)",
      cwe: 79,
      references: ["OWASP ASVS V5.3.3", "CWE-79"],
    },
  ],
  [
    "app-db-error",
    {
      severity: "high",
      category: "application",
      title: "database error message in a response",
      rationale:
        "a quote in a parameter produced a database error: input reaches SQL unparameterized (SQL injection likely) and internals leak",
      remediation: "use parameterized queries; return generic errors",
      cwe: 89,
      references: ["OWASP ASVS V5.3.4", "CWE-89", "CWE-209"],
    },
  ],

  // ── operations ─────────────────────────────────────────────────────────────────────────────
  [
    "ops-health-missing",
    {
      severity: "low",
      category: "operations",
      title: "no health endpoint found",
      rationale: "load balancers and orchestrators need a cheap endpoint to tell live from dead instances",
      remediation: "serve /health (or /healthz, /ready, /live) answering 200 when the service works",
      gateway: "admin listener: /live, /ready, /health",
      references: ["Google SRE Book ch. 6"],
    },
  ],
  [
    "ops-metrics-public",
    {
      severity: "medium",
      category: "operations",
      title: "metrics endpoint public",
      rationale: "Prometheus metrics reveal routes, error rates, versions and internal names",
      remediation: "serve metrics on an internal address or require authentication",
      gateway: "admin.address (metrics live on the admin listener, loopback by default)",
      cwe: 200,
      references: ["CWE-200"],
    },
  ],
  [
    "ops-no-rate-limit",
    {
      severity: "medium",
      category: "operations",
      title: "no rate limit observed",
      rationale:
        "a burst of requests from one client never got a 429: brute force and scraping are unthrottled",
      remediation: "rate-limit per client (and per user on login and other costly routes)",
      gateway: "routes[].rateLimit",
      cwe: 770,
      references: ["OWASP ASVS V11.1.4", "CWE-770"],
    },
  ],
  [
    "check-redirect-loop",
    {
      severity: "medium",
      category: "operations",
      title: "redirect loop or chain too long",
      rationale: "the target redirected more than the allowed number of times: clients give up",
      remediation: "fix the redirect rules so the target settles on one URL",
    },
  ],

  // ── strengths (bonus points; never reported as findings) ──────────────────────────────────
  [
    "bonus-csp-strict",
    {
      severity: "info",
      category: "bonus",
      title: "strict CSP (no unsafe sources, object-src and frame-ancestors set)",
      rationale: "Observatory +5 for a CSP without unsafe-inline",
      remediation: "—",
      references: [OBS],
    },
  ],
  [
    "bonus-hsts-long",
    {
      severity: "info",
      category: "bonus",
      title: "HSTS max-age of a year or more with includeSubDomains",
      rationale: "Observatory +5 for preload-grade HSTS",
      remediation: "—",
      references: [OBS],
    },
  ],
  [
    "bonus-cross-origin-isolation",
    {
      severity: "info",
      category: "bonus",
      title: "Cross-Origin-Resource-Policy and Opener-Policy set",
      rationale: "Observatory +10 for CORP",
      remediation: "—",
      references: [OBS],
    },
  ],
  [
    "bonus-cookies-hardened",
    {
      severity: "info",
      category: "bonus",
      title: "every cookie Secure, HttpOnly and SameSite",
      rationale: "Observatory +5 for cookies with SameSite",
      remediation: "—",
      references: [OBS],
    },
  ],
  [
    "bonus-rate-limited",
    {
      severity: "info",
      category: "bonus",
      title: "rate limit observed (429 during the burst)",
      rationale: "the service throttles a single client",
      remediation: "—",
    },
  ],
];

export const CATALOG: ReadonlyMap<string, CatalogEntry> = new Map(rows);
