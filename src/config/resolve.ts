/**
 * Turns a validated Config into what the gateway runs: defaults merged into every route, names
 * filled in, everything frozen. Inside the gateway nothing is re-validated (DESIGN.md principle 4).
 */
import { availableParallelism } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { type AuditConfig, resolveAuditConfig } from "../audit/schema.js";
import { resolveApiKeysConfig } from "../security/api-keys/schema.js";
import type { AuthorizeConfig } from "../security/authorization/schema.js";
import type { LoginEndpointConfig } from "../security/brute-force/schema.js";
import { type ResolvedRateLimitRule, resolveRateLimit } from "../security/rate-limit/schema.js";
import { normalizePrefix } from "./rules.js";
import type {
  AuthConfig,
  Config,
  CorsConfig,
  HeadersConfig,
  ListenerConfig,
  RouteConfig,
  UpstreamConfig,
} from "./schema.js";

export type HeaderProfileName = "strict" | "api" | "webapp" | "off";

export interface EffectiveHeaders {
  readonly profile: HeaderProfileName;
  readonly set: Readonly<Record<string, string | null>>;
  readonly keepUpstream: readonly string[];
  readonly stripBanners: boolean;
}

export interface ResolvedRoute {
  readonly name: string;
  readonly index: number;
  /** Lower-case hosts ("api.example.com", "*.example.com"); null matches any host. */
  readonly hosts: readonly string[] | null;
  /** Normalized prefix, without a trailing slash unless it is "/". */
  readonly pathPrefix: string;
  readonly upstream: string;
  /** Prefix that replaces the matched one before proxying; null keeps the path as it is. */
  readonly rewritePrefix: string | null;
  readonly headers: EffectiveHeaders;
  readonly cors: CorsConfig | null;
  /** Authentication; null when the route is open. */
  readonly auth: AuthConfig | null;
  /** Authorization on the verified identity; null when authentication alone is enough. */
  readonly authorize: AuthorizeConfig | null;
  readonly limits: { readonly maxBodySize: number };
  readonly rateLimit: readonly ResolvedRateLimitRule[];
  /** Audit records of every request: true after the response, "required" durable before proxying. */
  readonly audit: boolean | "required";
  /** A sign-in route: upstream 401/403 count as failed authentications. null otherwise. */
  readonly loginEndpoint: Exclude<LoginEndpointConfig, boolean> | null;
}

export interface ResolvedListener extends ListenerConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export interface ResolvedConfig {
  readonly source: string;
  readonly baseDir: string;
  readonly listeners: readonly ResolvedListener[];
  readonly admin: Config["admin"] & { readonly host: string; readonly port: number };
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  readonly routes: readonly ResolvedRoute[];
  /** The defaults' header policy, for gateway answers that have no route (404, 400). */
  readonly defaultHeaders: EffectiveHeaders;
  readonly server: Config["server"] & { readonly workerCount: number };
  readonly logging: Config["logging"];
  /** The audit trail, with its paths resolved against the config file's directory. */
  readonly audit: AuditConfig | undefined;
  /** Key paths whose values came from ${env:}/${file:} references; never printed. */
  readonly secretPaths: ReadonlySet<string>;
}

export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024;

export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(address.slice(colon + 1)) };
}

function mergeHeaders(
  defaults: HeadersConfig | undefined,
  route: HeadersConfig | undefined,
): EffectiveHeaders {
  return {
    profile: route?.profile ?? defaults?.profile ?? "strict",
    set: { ...defaults?.set, ...route?.set },
    // Header names are case-insensitive: lower-case before removing duplicates.
    keepUpstream: [
      ...new Set(
        [...(defaults?.keepUpstream ?? []), ...(route?.keepUpstream ?? [])].map((name) => name.toLowerCase()),
      ),
    ],
    stripBanners: route?.stripBanners ?? defaults?.stripBanners ?? true,
  };
}

/** A route's own setting wins over the defaults'; false turns the concern off. */
function overriding<T>(route: T | false | undefined, defaults: T | false | undefined): T | null {
  const value = route === undefined ? defaults : route;
  return value === false || value === undefined ? null : value;
}

function resolveRoute(
  route: RouteConfig,
  index: number,
  defaults: Config["defaults"],
  ceiling: Config["server"]["rateLimitCeiling"],
): ResolvedRoute {
  const prefix = normalizePrefix(route.match.pathPrefix);
  return {
    name: route.name ?? `route-${index}`,
    index,
    hosts:
      route.match.host === undefined ? null : [route.match.host].flat().map((host) => host.toLowerCase()),
    pathPrefix: prefix,
    upstream: route.upstream,
    rewritePrefix: route.stripPrefix ? "/" : (route.rewritePrefix ?? null),
    headers: mergeHeaders(defaults.headers, route.headers),
    cors: overriding(route.cors, defaults.cors),
    auth: overriding(route.auth, defaults.auth),
    authorize: overriding(route.authorize, defaults.authorize),
    limits: {
      maxBodySize: route.limits?.maxBodySize ?? defaults.limits?.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
    },
    rateLimit: resolveRateLimit(route.rateLimit, defaults.rateLimit, ceiling),
    audit: route.audit ?? false,
    loginEndpoint: route.loginEndpoint === true ? {} : route.loginEndpoint ? route.loginEndpoint : null,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

export function resolveConfig(
  config: Config,
  options: { source: string; baseDir: string; secretPaths: ReadonlySet<string> },
): ResolvedConfig {
  const inBase = (file: string) => (isAbsolute(file) ? file : resolve(options.baseDir, file));
  const resolved: ResolvedConfig = {
    source: options.source,
    baseDir: options.baseDir,
    listeners: config.listeners.map((listener) => ({
      ...listener,
      ...splitAddress(listener.address),
      name: listener.name ?? listener.address,
      tls: listener.tls && {
        ...listener.tls,
        cert: inBase(listener.tls.cert),
        key: inBase(listener.tls.key),
      },
    })),
    admin: { ...config.admin, ...splitAddress(config.admin.address) },
    upstreams: config.upstreams,
    routes: config.routes.map((route, index) =>
      resolveRoute(route, index, config.defaults, config.server.rateLimitCeiling),
    ),
    defaultHeaders: mergeHeaders(config.defaults.headers, undefined),
    server: {
      ...config.server,
      workerCount: config.server.workers === "auto" ? availableParallelism() : config.server.workers,
      ...(config.server.apiKeys && { apiKeys: resolveApiKeysConfig(config.server.apiKeys, options.baseDir) }),
    },
    logging: config.logging,
    audit: config.audit && resolveAuditConfig(config.audit, options.baseDir),
    secretPaths: options.secretPaths,
  };
  return deepFreeze(resolved);
}
