/**
 * Everything one config builds: routes, stage chains, upstream pools, trusted proxies. The
 * server holds one Runtime and swaps the reference on reload; a request keeps the Runtime it
 * started with, so a reload never changes a request half-way. Upstream groups whose config is
 * unchanged are carried over, keeping their pools, connections and health state.
 */
import { isDeepStrictEqual } from "node:util";
import type { AuditTrail } from "../audit/trail.js";
import type { ResolvedConfig, ResolvedRoute } from "../config/resolve.js";
import type { ApiKeyVerifier } from "../security/api-keys/verifier.js";
import type { KeyLog } from "../security/jwt/jwks-cache.js";
import { JwtKeyRegistry } from "../security/jwt/key-registry.js";
import { MemoryDenyList, type TokenDenyList } from "../security/revocation/deny-list.js";
import { SessionServices } from "../security/sessions/session-services.js";
import { TrustedProxies } from "../security/trusted-proxies.js";
import { buildChain, type StageChain } from "./pipeline.js";
import { compileRouter, type Router } from "./router.js";
import type { Services } from "./stage.js";
import type { LockoutServices } from "./stages/brute-force.js";
import { createRateLimitServices, type RateLimitServices } from "./stages/rate-limit.js";
import { UpstreamGroup } from "./upstream/group.js";

export interface Runtime {
  readonly config: ResolvedConfig;
  readonly router: Router;
  /** Chains by route index. */
  readonly chains: readonly StageChain[];
  /** Used for answers that precede or lack a route (404, 400): the defaults' headers. */
  readonly fallbackRoute: ResolvedRoute;
  readonly fallbackChain: StageChain;
  readonly groups: ReadonlyMap<string, UpstreamGroup>;
  readonly trustedProxies: TrustedProxies;
  /** Key caches of the issuers the routes name; carried over reloads. */
  readonly jwtKeys: JwtKeyRegistry;
  /** The rate-limit store; carried over reloads (its settings cannot change without a restart). */
  readonly rateLimit: RateLimitServices;
  /** Revoked token ids; carried over reloads like the rate-limit store. */
  readonly denyList: TokenDenyList;
  /** Browser sessions (store, signer, OpenID clients) when configured; carried over reloads. */
  readonly sessions: SessionServices | undefined;
  /** Failure counts and lock-outs; carried over reloads. */
  readonly lockouts: LockoutServices | undefined;
  /** API key verifier; carried over reloads. */
  readonly apiKeys: ApiKeyVerifier | undefined;
  /** Audit trail; carried over reloads. */
  readonly audit: AuditTrail | undefined;
  readonly log: KeyLog | undefined;
}

export function fallbackRouteOf(config: ResolvedConfig): ResolvedRoute {
  return {
    name: "-",
    index: -1,
    hosts: null,
    pathPrefix: "/",
    upstream: "",
    rewritePrefix: null,
    headers: config.defaultHeaders,
    cors: null,
    auth: null,
    authorize: null,
    limits: { maxBodySize: 0 },
    rateLimit: [],
    loginEndpoint: null,
    audit: false,
  };
}

/** Builds a runtime, reusing the unchanged upstream groups of the previous one. */
export interface RuntimeOptions {
  /** The runtime this one replaces (a reload): unchanged groups and shared stores carry over. */
  readonly previous?: Runtime | undefined;
  readonly log?: KeyLog | undefined;
  /** The gateway's rate-limit store, made once with its logger and metrics. */
  readonly rateLimit?: RateLimitServices | undefined;
  /** The gateway's token deny-list, made once. */
  readonly denyList?: TokenDenyList | undefined;
  /** The gateway's lock-out store (brute-force protection), made once; absent when disabled. */
  readonly lockouts?: LockoutServices | undefined;
  /** The gateway's API key verifier (store and cache), made once; absent without `server.apiKeys`. */
  readonly apiKeys?: ApiKeyVerifier | undefined;
  /** The gateway's audit trail (one chain per process), made once; absent without `audit`. */
  readonly audit?: AuditTrail | undefined;
}

export function buildRuntime(config: ResolvedConfig, options: RuntimeOptions = {}): Runtime {
  const { previous, log } = options;
  // The store outlives reloads (its settings need a restart): the gateway creates it once, with
  // its logger and metrics, and every later runtime takes the previous one's.
  const rateLimit =
    options.rateLimit ?? previous?.rateLimit ?? createRateLimitServices(config.server.rateLimitStore);
  const jwtKeys = previous?.jwtKeys ?? new JwtKeyRegistry(log);
  const denyList = options.denyList ?? previous?.denyList ?? new MemoryDenyList();
  const sessionSettings = config.server.sessions;
  const sessions =
    previous?.sessions ?? (sessionSettings ? new SessionServices(sessionSettings, log) : undefined);
  const lockouts = options.lockouts ?? previous?.lockouts;
  const apiKeys = options.apiKeys ?? previous?.apiKeys;
  const audit = options.audit ?? previous?.audit;
  // What outlives a reload, made once by the gateway and handed from runtime to runtime.
  const shared = {
    jwtKeys,
    rateLimit,
    denyList,
    sessions,
    lockouts,
    apiKeys,
    audit,
    log: log ?? previous?.log,
  };
  const services: Services = { config, ...shared };
  const groups = new Map<string, UpstreamGroup>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    const old = previous?.groups.get(name);
    groups.set(
      name,
      old && isDeepStrictEqual(old.config, upstream) ? old : new UpstreamGroup(name, upstream),
    );
  }
  // A reload stops refreshing the keys of issuers no route names any more.
  jwtKeys.retain(config.routes.flatMap((route) => (route.auth?.jwt ? [route.auth.jwt] : [])));
  const fallbackRoute = fallbackRouteOf(config);
  return {
    config,
    router: compileRouter(config.routes),
    chains: config.routes.map((route) => buildChain(route, services)),
    fallbackRoute,
    fallbackChain: buildChain(fallbackRoute, services),
    groups,
    trustedProxies: new TrustedProxies(config.server.trustedProxies),
    ...shared,
  };
}

/** Groups of `previous` that `next` no longer uses: close them once their requests finish. */
export function retiredGroups(previous: Runtime, next: Runtime): UpstreamGroup[] {
  return [...previous.groups.values()].filter((group) => next.groups.get(group.name) !== group);
}
