/**
 * Rate limiting per route (issue 3 §1): every rule of the route is decided by the process's one
 * store (memory or Redis); a request over any enforced rule gets a 429 problem with Retry-After.
 * Every response on the route carries the IETF draft headers (draft-ietf-httpapi-ratelimit-headers):
 *   RateLimit-Policy: "rule";q=LIMIT;w=PERIOD_SECONDS
 *   RateLimit: "rule";r=REMAINING;t=SECONDS
 * where t is the time until the full allowance is back, or, when nothing remains, until the next
 * request is admitted. A request is decided against every rule, so one denied by one rule still
 * counts against the others (as Envoy's descriptors do).
 */
import type { Logger } from "../../observability/logger.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import { type GcraDecision, gcraParams } from "../../security/rate-limit/gcra.js";
import { ipKey, keyValue, parseKeyPart } from "../../security/rate-limit/keys.js";
import { RateLimitStores, type StoreSettings } from "../../security/rate-limit/stores.js";
import type { RequestContext } from "../context.js";
import type { Reply, StageFactory } from "../stage.js";

/** What the rate-limit stage shares across routes and reloads; made once per gateway. */
export interface RateLimitServices {
  readonly stores: RateLimitStores;
  /** A request went over a rule; enforced or only counted (shadow mode). */
  overLimit(ctx: RequestContext, rule: string, enforced: boolean): void;
}

export function createRateLimitServices(
  settings: StoreSettings,
  observe?: { readonly logger: Logger; readonly metrics: GatewayMetrics },
): RateLimitServices {
  const failMode = settings.type === "redis" ? settings.failMode : "open";
  const stores = new RateLimitStores(settings, {
    error: () => observe?.metrics.rateLimitStoreErrors.inc(),
    stateChanged(up, reason) {
      observe?.metrics.rateLimitStoreUp.set(up ? 1 : 0);
      if (up) observe?.logger.info({ store: settings.type }, "rate limit store reachable again");
      else
        observe?.logger.error(
          { store: settings.type, failMode, reason },
          `rate limit store unreachable; failing ${failMode} until it answers`,
        );
    },
  });
  return {
    stores,
    overLimit(ctx, rule, enforced) {
      observe?.metrics.rateLimited.labels(ctx.route.name, rule, enforced ? "enforced" : "shadow").inc();
      if (!enforced) {
        observe?.logger.info(
          { route: ctx.route.name, rule, clientIp: ctx.clientIp, requestId: ctx.requestId },
          "rate limit exceeded (shadow mode, let through)",
        );
      }
    },
  };
}

const UNAVAILABLE: Reply = {
  status: 503,
  problem: { code: "rate_limit_unavailable", detail: "the rate limit store cannot be reached" },
};

export const rateLimitStage: StageFactory = (route, services) => {
  if (route.rateLimit.length === 0) return null;
  const shared = services.rateLimit ?? createRateLimitServices(services.config.server.rateLimitStore);
  const rules = route.rateLimit.map((rule) => ({
    name: rule.name,
    enforce: rule.enforce,
    ipv6Prefix: rule.ipv6Prefix,
    params: gcraParams(rule.limit, rule.per, rule.burst),
    parts: rule.key.map(parseKeyPart),
    // A ceiling rule counts across routes: its counters are not per route.
    prefix: rule.global
      ? `~global/${keyValue(rule.name)}/`
      : `${keyValue(route.name)}/${keyValue(rule.name)}/`,
    policy: `"${rule.name}";q=${rule.limit};w=${Math.max(1, Math.ceil(rule.per / 1000))}`,
  }));
  type Rule = (typeof rules)[number];
  const params = rules.map((rule) => rule.params);
  const policyHeader = rules.map((rule) => rule.policy).join(", ");

  const keyOf = (rule: Rule, ctx: RequestContext): string => {
    let key = rule.prefix;
    for (const part of rule.parts) {
      if (part.kind === "subject" && ctx.identity) key += `s:${keyValue(ctx.identity.subject)}|`;
      else if (part.kind === "header" && typeof ctx.req.headers[part.name] === "string")
        key += `h:${keyValue(ctx.req.headers[part.name] as string)}|`;
      // No identity or no header: the client address stands in (docs/security-model.md).
      else key += `ip:${keyValue(ipKey(ctx.clientIp, rule.ipv6Prefix))}|`;
    }
    return key;
  };

  const conclude = (ctx: RequestContext, decisions: readonly GcraDecision[]): Reply | undefined => {
    ctx.rateLimitDecisions = decisions;
    let deny = false;
    decisions.forEach((decision, index) => {
      if (decision.allowed) return;
      const rule = rules[index]!;
      shared.overLimit(ctx, rule.name, rule.enforce);
      if (rule.enforce) deny = true;
    });
    return deny
      ? {
          status: 429,
          problem: { code: "rate_limited", detail: "too many requests; retry after the time in Retry-After" },
        }
      : undefined;
  };

  const failed = (): Reply | undefined => (shared.stores.failOpen ? undefined : UNAVAILABLE);

  return {
    name: "rate-limit",
    onRequest: function decideRateLimit(ctx) {
      let store: ReturnType<RateLimitStores["get"]>;
      try {
        store = shared.stores.get();
      } catch {
        return failed();
      }
      let results: ReturnType<typeof store.takeAll>;
      try {
        results = store.takeAll(
          rules.map((rule) => keyOf(rule, ctx)),
          params,
        );
      } catch {
        return failed();
      }
      return results instanceof Promise
        ? results.then((decisions) => conclude(ctx, decisions), failed)
        : conclude(ctx, results);
    },
    onResponse: function rateLimitHeaders(ctx, head) {
      const decisions = ctx.rateLimitDecisions;
      if (!decisions) return;
      let retryAfter = 0;
      const state = decisions.map((decision, index) => {
        const wait =
          decision.remaining > 0 ? decision.reset : decision.allowed ? decision.reset : decision.retryAfter;
        if (!decision.allowed && rules[index]!.enforce)
          retryAfter = Math.max(retryAfter, decision.retryAfter);
        return `"${rules[index]!.name}";r=${decision.remaining};t=${Math.ceil(wait / 1e6)}`;
      });
      head.headers["ratelimit-policy"] = policyHeader;
      head.headers.ratelimit = state.join(", ");
      if (head.fromGateway && head.status === 429 && retryAfter > 0) {
        head.headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfter / 1e6)));
      }
    },
  };
};
