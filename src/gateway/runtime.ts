/**
 * Everything one config builds: routes, stage chains, upstream pools, trusted proxies. The
 * server holds one Runtime and swaps the reference on reload; a request keeps the Runtime it
 * started with, so a reload never changes a request half-way. Upstream groups whose config is
 * unchanged are carried over, keeping their pools, connections and health state.
 */
import { isDeepStrictEqual } from "node:util";
import type { ResolvedConfig, ResolvedRoute } from "../config/resolve.js";
import type { KeyLog } from "../security/jwt/jwks-cache.js";
import { JwtKeyRegistry } from "../security/jwt/key-registry.js";
import { TrustedProxies } from "../security/trusted-proxies.js";
import { buildChain, type StageChain } from "./pipeline.js";
import { compileRouter, type Router } from "./router.js";
import type { Services } from "./stage.js";
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
    limits: { maxBodySize: 0 },
    rateLimit: [],
  };
}

/** Builds a runtime, reusing the unchanged upstream groups of the previous one. */
export function buildRuntime(
  config: ResolvedConfig,
  previous?: Runtime,
  log?: KeyLog,
  rateLimitServices?: RateLimitServices,
): Runtime {
  // The store outlives reloads (its settings need a restart): the gateway creates it once, with
  // its logger and metrics, and every later runtime takes the previous one's.
  const rateLimit =
    rateLimitServices ?? previous?.rateLimit ?? createRateLimitServices(config.server.rateLimitStore);
  const jwtKeys = previous?.jwtKeys ?? new JwtKeyRegistry(log);
  const services: Services = { config, jwtKeys, rateLimit };
  const groups = new Map<string, UpstreamGroup>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    const old = previous?.groups.get(name);
    groups.set(
      name,
      old && isDeepStrictEqual(old.config, upstream) ? old : new UpstreamGroup(name, upstream),
    );
  }
  // A reload stops refreshing the keys of issuers no route names any more.
  jwtKeys.retain(config.routes.flatMap((route) => (route.auth ? [route.auth.jwt] : [])));
  const fallbackRoute = fallbackRouteOf(config);
  return {
    config,
    router: compileRouter(config.routes),
    chains: config.routes.map((route) => buildChain(route, services)),
    fallbackRoute,
    fallbackChain: buildChain(fallbackRoute, services),
    groups,
    trustedProxies: new TrustedProxies(config.server.trustedProxies),
    jwtKeys,
    rateLimit,
  };
}

/** Groups of `previous` that `next` no longer uses: close them once their requests finish. */
export function retiredGroups(previous: Runtime, next: Runtime): UpstreamGroup[] {
  return [...previous.groups.values()].filter((group) => next.groups.get(group.name) !== group);
}
