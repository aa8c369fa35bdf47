/**
 * Config schema of rate limiting (referenced from src/config/schema.ts): per-route rules under
 * `rateLimit`, the store under `server.rateLimitStore`.
 */
import { z } from "zod";
import { duration } from "../../config/units.js";
import { DEFAULT_MAX_KEYS } from "./memory-store.js";

const keyPart = z.string().regex(/^(?:ip|subject|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/, {
  message: 'expected "ip", "subject" or "header:NAME"',
});

export const rateLimitRuleSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, { message: "expected letters, digits, _ . or -" })
      .optional()
      .describe("rule name used in headers, logs and metrics (default: rule-N)"),
    key: z
      .union([keyPart, z.array(keyPart).min(1)])
      .default("ip")
      .describe(
        'what is counted: "ip" (client address after the trusted-proxy rules), "subject" (authenticated subject; the client address when there is none), "header:NAME", or a list of them combined',
      ),
    limit: z.number().int().min(1).describe("requests allowed per period"),
    per: duration("the period").refine((ms) => ms >= 1, { message: "period must be at least 1ms" }),
    burst: z.number().int().min(0).default(0).describe("extra requests allowed at once on top of the limit"),
    ipv6Prefix: z
      .number()
      .int()
      .min(1)
      .max(128)
      .default(64)
      .describe("IPv6 clients are counted per network of this prefix length"),
    enforce: z
      .boolean()
      .default(true)
      .describe("answer 429 over the limit; false only counts and logs (shadow mode)"),
  })
  .describe("a rate-limit rule (GCRA; see docs/security-model.md)");

export const rateLimitSchema = z
  .union([z.array(rateLimitRuleSchema).min(1), z.literal(false)])
  .describe("rate-limit rules, each counted separately; false turns the defaults' off");

export const rateLimitCeilingSchema = z
  .array(rateLimitRuleSchema)
  .default([])
  .describe(
    "global ceiling: rules applied to every route on top of its own, each counted once across all routes (a route cannot turn them off)",
  );

export const rateLimitStoreSchema = z
  .discriminatedUnion("type", [
    z
      .strictObject({
        type: z.literal("memory").describe("counters in this process (per worker)"),
        maxKeys: z
          .number()
          .int()
          .min(1)
          .default(DEFAULT_MAX_KEYS)
          .describe("most keys kept; beyond, the least recently updated are evicted"),
      })
      .describe("in-process store"),
    z
      .strictObject({
        type: z.literal("redis").describe("counters shared through Redis"),
        url: z
          .string()
          .min(1)
          .describe("redis:// or rediss:// URL; put a password in an env or file reference"),
        failMode: z
          .enum(["open", "closed"])
          .default("open")
          .describe("when Redis is unreachable: let requests through (open) or answer 503 (closed)"),
        timeout: duration("longest wait for one decision before the fail mode applies").default(250),
        keyPrefix: z.string().default("bulwark:rl:").describe("prefix of every Redis key"),
        singleSlot: z
          .boolean()
          .default(false)
          .describe(
            "one script call per rule and request, each on one key (for Redis Cluster behind a cluster-aware proxy); default: one call for all the rules of the requests of one event-loop turn",
          ),
      })
      .describe("shared store"),
  ])
  .default({ type: "memory", maxKeys: DEFAULT_MAX_KEYS })
  .describe("where rate-limit counters live");

export type RateLimitRuleConfig = z.output<typeof rateLimitRuleSchema>;
export type RateLimitStoreConfig = z.output<typeof rateLimitStoreSchema>;

export interface ResolvedRateLimitRule {
  readonly name: string;
  readonly key: readonly string[];
  readonly limit: number;
  /** Milliseconds. */
  readonly per: number;
  readonly burst: number;
  readonly ipv6Prefix: number;
  readonly enforce: boolean;
  /** A global ceiling rule: one counter per key across every route. */
  readonly global: boolean;
}

/** The route's rules, or the defaults' when the route has none; false turns them off. */
export function resolveRateLimit(
  route: readonly RateLimitRuleConfig[] | false | undefined,
  defaults: readonly RateLimitRuleConfig[] | false | undefined,
  ceiling: readonly RateLimitRuleConfig[] = [],
): readonly ResolvedRateLimitRule[] {
  const rules = (route === undefined ? defaults : route) || [];
  return [...resolveRules(rules, "rule", false), ...resolveRules(ceiling, "global", true)];
}

function resolveRules(
  rules: readonly RateLimitRuleConfig[],
  prefix: string,
  global: boolean,
): ResolvedRateLimitRule[] {
  return rules.map((rule, index) => ({
    name: rule.name ?? `${prefix}-${index}`,
    key: [rule.key].flat(),
    limit: rule.limit,
    per: rule.per,
    burst: rule.burst,
    ipv6Prefix: rule.ipv6Prefix,
    enforce: rule.enforce,
    global,
  }));
}
