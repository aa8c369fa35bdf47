/**
 * Config schema of browser sign-in (referenced from src/config/schema.ts): the per-route method
 * under `auth.session` (provider, client, CSRF policy) and the process-wide settings under
 * `server.sessions` (signing secret, timeouts, store).
 */
import { z } from "zod";
import { duration, size } from "../../config/units.js";
import { DEFAULT_MAX_SESSIONS } from "./memory-store.js";

/** Where the gateway answers sign-in, callback and sign-out: `<base>/.bulwark/auth/<endpoint>`. */
export const AUTH_ENDPOINTS_SEGMENT = "/.bulwark/auth/";
export const CALLBACK_PATH_SUFFIX = `${AUTH_ENDPOINTS_SEGMENT}callback`;

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

// A provider reached over plaintext could be impersonated by anyone on the path.
const providerUrl = z
  .url({ protocol: /^https?$/, error: "expected an https:// URL" })
  .refine((value) => value.startsWith("https:") || isLoopback(new URL(value).hostname), {
    message: "expected an https:// URL (http:// only on a loopback host)",
  });

/** Headers an access token must not be sent in: HTTP framing, the gateway's own, cookies. */
const RESERVED_HEADERS = new Set([
  "host",
  "cookie",
  "connection",
  "content-length",
  "content-type",
  "transfer-encoding",
  "te",
  "upgrade",
  "keep-alive",
  "proxy-authorization",
  "x-request-id",
  "traceparent",
  "tracestate",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
]);

const origin = z
  .string()
  .regex(/^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$|^https?:\/\/\[[0-9a-fA-F:.]+\](?::\d{1,5})?$/, {
    message: 'expected an origin such as "https://app.example.com" (scheme, host and port; no path)',
  });

export const csrfSchema = z
  .strictObject({
    enforce: z
      .boolean()
      .default(true)
      .describe("refuse unsafe requests that fail the checks with 403; false only logs them (shadow mode)"),
    header: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected an HTTP header name (RFC 9110 token)" })
      .default("X-CSRF-Token")
      .describe(
        "request header that carries the token (read by scripts from the __Host-bulwark-csrf cookie)",
      ),
    trustedOrigins: z
      .array(origin)
      .default([])
      .describe("other origins allowed to send unsafe requests (the redirectUrl's origin always is)"),
    formField: z
      .string()
      .min(1)
      .default("_csrf")
      .describe(
        "form field (application/x-www-form-urlencoded or multipart/form-data) that carries the token when the header is absent (classic HTML forms); it stays in the body sent upstream",
      ),
    bodyReadLimit: size(
      "most body bytes read to find the token field (at most 1mb, never above limits.maxBodySize): a larger urlencoded form is not read, a multipart form is read this far, so its token field must come before large files",
    )
      .refine((bytes) => bytes >= 1 && bytes <= 1024 * 1024, { message: "expected a size from 1b to 1mb" })
      .default(64 * 1024),
  })
  .describe(
    "CSRF protection of unsafe methods (POST, PUT, PATCH, DELETE …) on session-authenticated requests",
  );

export const sessionAuthSchema = z
  .strictObject({
    issuer: providerUrl.describe(
      "OpenID provider; discovered at ISSUER/.well-known/openid-configuration when the first browser signs in",
    ),
    clientId: z.string().min(1).describe("client id registered at the provider"),
    clientSecret: z
      .string()
      .min(1)
      .describe("client secret (client_secret_basic); put it in an env or file reference"),
    redirectUrl: z
      .url({ protocol: /^https?$/, error: "expected an https:// URL" })
      .describe(
        "absolute callback URL registered at the provider; its path must end with /.bulwark/auth/callback, and sign-in and sign-out are answered next to it",
      ),
    scopes: z
      .array(
        z
          .string()
          .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { message: "expected a scope token (RFC 6749 §3.3)" }),
      )
      .default(["openid", "profile", "email"])
      .refine((scopes) => scopes.includes("openid"), { message: 'scopes must include "openid"' })
      .describe('requested scopes; add "offline_access" when the provider needs it for refresh tokens'),
    endSession: z
      .boolean()
      .default(true)
      .describe(
        "sign-out also signs out at the provider (RP-initiated logout) when it publishes an end_session_endpoint",
      ),
    postLogoutRedirectUrl: z
      .url({ protocol: /^https?$/, error: "expected an https:// URL" })
      .optional()
      .describe(
        "where the provider sends the browser after RP-initiated logout (registered at the provider)",
      ),
    backchannelLogout: z
      .boolean()
      .default(false)
      .describe(
        "answer OpenID Connect Back-Channel Logout at …/.bulwark/auth/backchannel-logout (register it at the provider as backchannel_logout_uri): a signed logout token ends the user's sessions here",
      ),
    userinfo: z
      .boolean()
      .default(false)
      .describe(
        "also read the provider's UserInfo endpoint after sign-in and each refresh, and merge its claims over the ID token's (for providers that put roles or groups there only)",
      ),
    accessTokenHeader: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected an HTTP header name (RFC 9110 token)" })
      .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), {
        message: "expected a header of its own, not one the gateway or HTTP itself sets",
      })
      .optional()
      .describe(
        "send the session's access token (refreshed when due) to the upstream in this header, e.g. X-Forwarded-Access-Token, for upstreams that call APIs on the user's behalf; Authorization sends it as `Bearer <token>`; client-sent copies are removed",
      ),
    afterSignOut: z
      .string()
      .startsWith("/", { message: 'expected a path starting with "/"' })
      .default("/")
      .describe("path the browser goes to after a local sign-out"),
    csrf: csrfSchema.prefault({}),
  })
  .describe("browser sign-in (OpenID Connect authorization code flow with PKCE) and cookie sessions");

export const sessionSettingsSchema = z
  .strictObject({
    secret: z
      .string()
      .describe(
        "HMAC-SHA256 key that signs the session cookies, at least 32 characters; put it in a file reference",
      ),
    previousSecrets: z
      .array(z.string())
      .default([])
      .describe("former secrets still accepted for verification while browsers move to the new one"),
    idleTimeout: duration("a session ends after this long without a request").default(30 * 60_000),
    absoluteTimeout: duration("a session ends this long after sign-in, whatever its use").default(
      12 * 3_600_000,
    ),
    store: z
      .discriminatedUnion("type", [
        z
          .strictObject({
            type: z.literal("memory").describe("sessions in this process (per worker)"),
            maxSessions: z
              .number()
              .int()
              .min(1)
              .default(DEFAULT_MAX_SESSIONS)
              .describe("most sessions and pending sign-ins kept; beyond, the oldest are evicted"),
          })
          .describe("in-process store"),
        z
          .strictObject({
            type: z.literal("redis").describe("sessions shared through Redis"),
            url: z
              .string()
              .min(1)
              .describe("redis:// or rediss:// URL; put a password in an env or file reference"),
            timeout: duration("longest wait for one store operation before answering 503").default(500),
            keyPrefix: z.string().default("bulwark:sess:").describe("prefix of every Redis key"),
          })
          .describe("shared store"),
      ])
      .default({ type: "memory", maxSessions: DEFAULT_MAX_SESSIONS })
      .describe("where sessions live"),
  })
  .describe("browser sessions: cookie signing secret, timeouts and store (needed by auth.session)");

export type SessionAuthConfig = z.output<typeof sessionAuthSchema>;
export type SessionSettings = z.output<typeof sessionSettingsSchema>;
