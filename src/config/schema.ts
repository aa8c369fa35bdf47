/**
 * The one schema of bulwark.yaml. Every key has a description: `bulwark config schema` prints it
 * as JSON Schema for editors, and docs/configuration.md is generated from it (a test keeps the
 * two in sync). Unknown keys are rejected everywhere (strict objects), because a misspelt
 * security key silently ignored is a hole.
 */
import { z } from "zod";
import { auditSchema, routeAuditSchema } from "../audit/schema.js";
import { backupSectionSchema } from "../backup/config-schema.js";
import { readinessSchema } from "../check/readiness/schema.js";
import { apiKeyAuthSchema, apiKeysSchema } from "../security/api-keys/schema.js";
import { authorizeSchema } from "../security/authorization/schema.js";
import { bruteForceSchema, loginEndpointSchema } from "../security/brute-force/schema.js";
import {
  rateLimitCeilingSchema,
  rateLimitSchema,
  rateLimitStoreSchema,
} from "../security/rate-limit/schema.js";
import { tokenRevocationSchema } from "../security/revocation/schema.js";
import { sessionAuthSchema, sessionSettingsSchema } from "../security/sessions/schema.js";
import { duration, size } from "./units.js";

const ADDRESS = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

export const address = (description: string) =>
  z
    .string()
    .regex(ADDRESS, { message: 'expected HOST:PORT, such as "127.0.0.1:8080" or "[::1]:8443"' })
    // Only judge the port of a HOST:PORT, so "localhost" gets one error rather than two.
    .refine((value) => !ADDRESS.test(value) || Number(value.slice(value.lastIndexOf(":") + 1)) <= 65535, {
      message: "port must be at most 65535",
    })
    .describe(description);

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected an HTTP header name (RFC 9110 token)" });

const HTTP_METHOD = z
  .string()
  .regex(/^[A-Z]+$/, { message: "expected an upper-case HTTP method such as GET" });

export const tlsSchema = z
  .strictObject({
    cert: z.string().min(1).describe("PEM certificate chain file; re-read when it changes on disk"),
    key: z.string().min(1).describe("PEM private key file; re-read when it changes on disk"),
    minVersion: z
      .enum(["TLSv1.2", "TLSv1.3"])
      .default("TLSv1.2")
      .describe("lowest TLS version offered; TLSv1.3 makes the listener 1.3-only"),
    http2: z.boolean().default(true).describe("offer HTTP/2 through ALPN (HTTP/1.1 is always offered)"),
  })
  .describe("serve HTTPS on this listener");

export const listenerSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe("name used in logs and metrics (default: the address)"),
    address: address("address to listen on"),
    tls: tlsSchema.optional(),
    redirectToHttps: z
      .strictObject({
        port: z
          .number()
          .int()
          .min(1)
          .max(65535)
          .optional()
          .describe("HTTPS port to redirect to (default: the first TLS listener's port)"),
      })
      .optional()
      .describe("answer every request on this plaintext listener with a 308 redirect to HTTPS"),
    allowPlaintext: z
      .boolean()
      .default(false)
      .describe("allow plaintext HTTP on a non-loopback address (refused otherwise)"),
  })
  .describe("a traffic listener");

export const upstreamSchema = z
  .strictObject({
    targets: z
      .array(z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }))
      .min(1)
      .describe("target base URLs, balanced round robin"),
    connections: z.number().int().min(1).default(256).describe("maximum keep-alive connections per target"),
    hostHeader: z
      .enum(["preserve", "target"])
      .default("preserve")
      .describe("send the client's Host (preserve) or the target's host (target)"),
    timeouts: z
      .strictObject({
        connect: duration("TCP/TLS connect timeout").default(5000),
        responseHeaders: duration("time to wait for the response headers").default(60_000),
        body: duration("idle time allowed between two response body chunks").default(60_000),
        keepAlive: duration("how long an idle upstream connection is kept").default(4000),
      })
      .prefault({})
      .describe("upstream timeouts"),
    healthCheck: z
      .strictObject({
        path: z
          .string()
          .startsWith("/")
          .optional()
          .describe("HTTP path to GET; a 2xx or 3xx is healthy (default: a TCP connect)"),
        interval: duration("time between two checks of a target").default(5000),
        timeout: duration("time allowed for one check").default(2000),
      })
      .prefault({})
      .describe("active health checks; /ready needs one healthy target per upstream"),
    ejectFor: duration("how long a target that refused a connection is skipped").default(5000),
  })
  .describe("a named group of targets");

const headerProfile = z
  .enum(["strict", "api", "webapp", "off"])
  .describe("security header profile: strict (default), api, webapp, or off");

export const headersSchema = z
  .strictObject({
    profile: headerProfile.optional(),
    set: z
      .record(headerName, z.string().nullable())
      .optional()
      .describe("headers to set on responses (a null value removes the header)"),
    keepUpstream: z
      .array(headerName)
      .optional()
      .describe("headers for which the upstream's own value wins over the profile's"),
    stripBanners: z
      .boolean()
      .optional()
      .describe("remove Server, X-Powered-By and other version banners from responses (default true)"),
  })
  .describe("response security headers");

export const corsSchema = z
  .strictObject({
    origins: z
      .array(z.string().min(1))
      .min(1)
      .describe(
        'allowed origins: exact ("https://app.example.com"), subdomain patterns ("https://*.example.com") or "*"',
      ),
    credentials: z.boolean().default(false).describe("allow credentials (cookies, Authorization)"),
    methods: z.array(HTTP_METHOD).default(["GET", "HEAD", "POST"]).describe("methods allowed cross-origin"),
    allowHeaders: z.array(headerName).default([]).describe("request headers allowed cross-origin"),
    exposeHeaders: z.array(headerName).default([]).describe("response headers exposed to scripts"),
    maxAge: duration("how long browsers may cache a preflight answer").default(600_000),
  })
  .describe("CORS policy answered at the gateway");

export const limitsSchema = z
  .strictObject({
    maxBodySize: size("largest request body accepted (413 beyond, chunked bodies included)").optional(),
  })
  .describe("per-route request limits");

// Asymmetric algorithms only: "none" and the HMAC family (HS*) cannot be configured, so a token
// signed with an issuer's public key used as an HMAC secret (RSA/HMAC confusion) is never accepted.
export const JWT_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

function isHttpsOrLoopback(value: string): boolean {
  const url = new URL(value);
  if (url.protocol === "https:") return true;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

// Keys fetched over plaintext could be swapped by anyone on the path: https only, http on loopback.
const keySourceUrl = (description: string) =>
  z
    .url({ protocol: /^https?$/, error: "expected an https:// URL" })
    .refine(isHttpsOrLoopback, { message: "expected an https:// URL (http:// only on a loopback host)" })
    .describe(description);

export const jwtSchema = z
  .strictObject({
    issuer: keySourceUrl("expected `iss`; keys are discovered at ISSUER/.well-known/openid-configuration"),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe("accepted `aud` values; a token must name one of them"),
    jwksUri: keySourceUrl("JWKS URL, instead of OpenID discovery").optional(),
    algorithms: z
      .array(
        z.enum(JWT_ALGORITHMS, { error: `expected one of ${JWT_ALGORITHMS.join(", ")} (never none or HS*)` }),
      )
      .min(1)
      .default(["RS256", "ES256"])
      .describe("accepted signature algorithms (asymmetric only)"),
    clockSkew: duration("tolerance applied to `exp` and `nbf`").default(30_000),
    requiredClaims: z
      .array(z.string().min(1))
      .default([])
      .describe("claims a token must carry (besides iss, aud, exp and sub)"),
    refreshInterval: duration("how often keys are refetched in the background").default(300_000),
  })
  .describe("bearer JWTs from an OpenID provider");

// Each credential method is a sibling key; a request is authenticated by the first method that
// accepts it, so a route may take bearer tokens from services and sessions from browsers.
const AUTH_METHODS = ["jwt", "apiKey", "session"] as const;

export const authSchema = z
  .strictObject({
    jwt: jwtSchema.optional(),
    apiKey: apiKeyAuthSchema.optional(),
    session: sessionAuthSchema.optional(),
    identityHeaders: z
      .record(headerName, z.string().min(1))
      .default({})
      .describe(
        'request headers sent upstream with a claim of the verified identity (dotted path, such as "sub" or "realm_access.roles"); client-sent copies are always removed',
      ),
    enforce: z
      .boolean()
      .default(true)
      .describe("refuse unauthenticated requests; false only logs what would be refused (shadow mode)"),
  })
  .refine((auth) => AUTH_METHODS.some((method) => auth[method] !== undefined), {
    message: `expected at least one authentication method: ${AUTH_METHODS.join(", ")}`,
  })
  .describe("authentication required on the route; false turns the defaults' off");

const policyFields = {
  auth: z.union([authSchema, z.literal(false)]).optional(),
  authorize: z.union([authorizeSchema, z.literal(false)]).optional(),
  headers: headersSchema.optional(),
  cors: z.union([corsSchema, z.literal(false)]).optional(),
  limits: limitsSchema.optional(),
  rateLimit: rateLimitSchema.optional(),
};

export const routeSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe("route name used in logs and metrics (default: route-N)"),
    match: z
      .strictObject({
        host: z
          .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
          .optional()
          .describe(
            'Host to match: exact ("api.example.com") or wildcard ("*.example.com"); any when absent',
          ),
        pathPrefix: z
          .string()
          .startsWith("/", { message: 'expected a path prefix starting with "/"' })
          .default("/")
          .describe(
            'path prefix, matched on segment boundaries ("/api" matches "/api" and "/api/x", not "/apix")',
          ),
      })
      .prefault({})
      .describe("which requests this route takes; the most specific host, then the longest prefix wins"),
    upstream: z.string().min(1).describe("name of the upstream group to proxy to"),
    loginEndpoint: loginEndpointSchema.optional(),
    audit: routeAuditSchema.optional(),
    stripPrefix: z.boolean().default(false).describe("remove the matched path prefix before proxying"),
    rewritePrefix: z
      .string()
      .startsWith("/")
      .optional()
      .describe("replace the matched path prefix with this one before proxying"),
    ...policyFields,
  })
  .describe("a route");

export const configSchema = z
  .strictObject({
    version: z.literal(1).default(1).describe("config format version"),
    listeners: z
      .array(listenerSchema)
      .min(1)
      .default([{ address: "127.0.0.1:8080", allowPlaintext: false }])
      .describe("traffic listeners"),
    admin: z
      .strictObject({
        address: address("admin listener address (/metrics, /live, /ready, /health)").default(
          "127.0.0.1:9901",
        ),
        token: z
          .string()
          .min(16, { message: "admin token must be at least 16 characters" })
          .optional()
          .describe("bearer token required on the admin listener; required when it is not on loopback"),
        enabled: z.boolean().default(true).describe("run the admin listener"),
      })
      .prefault({})
      .describe("admin listener"),
    upstreams: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/), upstreamSchema)
      .describe("named upstream groups"),
    routes: z.array(routeSchema).min(1).describe("routes, matched by host and path prefix"),
    audit: auditSchema.optional(),
    backup: backupSectionSchema.optional(),
    readiness: readinessSchema.optional(),
    defaults: z
      .strictObject(policyFields)
      .prefault({})
      .describe("policy applied to every route unless the route overrides it"),
    server: z
      .strictObject({
        workers: z
          .union([z.number().int().min(1).max(64), z.literal("auto")])
          .default(1)
          .describe('worker processes sharing the listeners; "auto" uses one per core'),
        trustedProxies: z
          .array(z.string())
          .default([])
          .describe("CIDRs whose X-Forwarded-*/Forwarded headers are trusted; others' are replaced"),
        rateLimitStore: rateLimitStoreSchema,
        rateLimitCeiling: rateLimitCeilingSchema,
        sessions: sessionSettingsSchema.optional(),
        apiKeys: apiKeysSchema.optional(),
        tokenRevocation: tokenRevocationSchema,
        bruteForce: bruteForceSchema,
        timeouts: z
          .strictObject({
            clientHeader: duration("time a client has to send the request headers (slowloris)").default(
              10_000,
            ),
            bodyIdle: duration("idle time allowed between two request body chunks").default(30_000),
            keepAlive: duration("how long an idle client connection is kept open").default(5000),
            shutdownGrace: duration("time in-flight requests get to finish on SIGTERM").default(30_000),
          })
          .prefault({})
          .describe("client-side timeouts"),
        limits: z
          .strictObject({
            maxHeaderSize: size("largest request header block (431 beyond)").default(16 * 1024),
            maxUrlLength: size("longest request target (414 beyond)").default(8 * 1024),
          })
          .prefault({})
          .describe("connection-wide limits"),
      })
      .prefault({})
      .describe("process-wide settings"),
    logging: z
      .strictObject({
        level: z
          .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"])
          .default("info")
          .describe("lowest level written; silent turns logging off"),
        accessLog: z.boolean().default(true).describe("one JSON line per request on stdout"),
        redact: z
          .array(z.string().min(1))
          .default([])
          .describe("extra header names and query parameter names to redact in logs"),
      })
      .prefault({})
      .describe("JSON logs on stdout"),
  })
  .describe("bulwark.yaml");

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type UpstreamConfig = z.output<typeof upstreamSchema>;
export type ListenerConfig = z.output<typeof listenerSchema>;
export type CorsConfig = z.output<typeof corsSchema>;
export type HeadersConfig = z.output<typeof headersSchema>;
export type AuthConfig = z.output<typeof authSchema>;

export function configJsonSchema(): object {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" });
}
