/**
 * Authorization decisions on verified claims, without HTTP: roles, scopes and groups read from
 * configured claim paths, tenant isolation, and step-up (acr/amr/auth_time, RFC 9470). The policy
 * is compiled once per route; evaluating it only reads the claims.
 */
import { claimAt } from "../jwt/verify.js";
import type { AuthorizeConfig } from "./schema.js";

export type AuthorizationDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** forbidden: 403; step-up: 401 asking for a stronger or fresher authentication. */
      readonly kind: "forbidden" | "step-up";
      /** For logs and audit records: which requirement failed, never a claim value. */
      readonly reason: string;
    };

export interface RequestFacts {
  /** Normalized request path, without the query. */
  readonly path: string;
  header(name: string): string | undefined;
}

interface Requirement {
  readonly values: readonly string[];
  readonly any: boolean;
}

type ClaimPath = readonly string[];

function compileRequirement(value: AuthorizeConfig["roles"]): Requirement | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? { values: value, any: false } : { values: value.anyOf, any: true };
}

/** Every string the claim paths hold; a string claim is split on spaces (OAuth `scope`, RFC 6749 §3.3). */
function valuesAt(claims: Readonly<Record<string, unknown>>, paths: readonly ClaimPath[]): Set<string> {
  const found = new Set<string>();
  for (const path of paths) {
    const value = claimAt(claims, path);
    if (typeof value === "string") {
      for (const item of value.split(" ")) if (item !== "") found.add(item);
    } else if (Array.isArray(value)) {
      for (const item of value) if (typeof item === "string") found.add(item);
    }
  }
  return found;
}

function satisfies(held: Set<string>, requirement: Requirement): boolean {
  return requirement.any
    ? requirement.values.some((value) => held.has(value))
    : requirement.values.every((value) => held.has(value));
}

const split = (path: string): ClaimPath => path.split(".");

export interface AuthorizationPolicy {
  evaluate(
    claims: Readonly<Record<string, unknown>>,
    request: RequestFacts,
    nowMs: number,
  ): AuthorizationDecision;
  /** `acr_values` for the RFC 9470 challenge, when the policy asks for one. */
  readonly acrValues: string | undefined;
  /** `max_age` in seconds for the RFC 9470 challenge, when the policy asks for one. */
  readonly maxAgeSeconds: number | undefined;
}

export function compileAuthorization(config: AuthorizeConfig): AuthorizationPolicy {
  const checks: {
    readonly name: string;
    readonly requirement: Requirement;
    readonly paths: readonly ClaimPath[];
  }[] = [];
  for (const name of ["roles", "scopes", "groups"] as const) {
    const requirement = compileRequirement(config[name]);
    if (requirement) checks.push({ name, requirement, paths: config.claims[name].map(split) });
  }
  const tenant = config.tenant && {
    claim: split(config.tenant.claim),
    segment: "pathSegment" in config.tenant ? config.tenant.pathSegment : undefined,
    header: "header" in config.tenant ? config.tenant.header.toLowerCase() : undefined,
  };
  const stepUp = config.stepUp;
  const deny = (kind: "forbidden" | "step-up", reason: string): AuthorizationDecision => ({
    allowed: false,
    kind,
    reason,
  });

  function requestTenant(request: RequestFacts): string | undefined {
    if (!tenant) return undefined;
    if (tenant.header !== undefined) return request.header(tenant.header);
    // Segments of "/api/acme/x" are ["api", "acme", "x"]; the path is already normalized.
    const segments = request.path.split("/");
    const segment = segments[(tenant.segment ?? 0) + 1];
    return segment === "" ? undefined : segment;
  }

  return {
    acrValues: stepUp?.acr?.join(" "),
    maxAgeSeconds: stepUp?.maxAge === undefined ? undefined : Math.floor(stepUp.maxAge / 1000),
    evaluate(claims, request, nowMs) {
      for (const check of checks) {
        if (!satisfies(valuesAt(claims, check.paths), check.requirement))
          return deny("forbidden", `${check.name} missing`);
      }
      if (tenant) {
        const wanted = requestTenant(request);
        if (wanted === undefined) return deny("forbidden", "request names no tenant");
        const held = claimAt(claims, tenant.claim);
        const tenants = typeof held === "string" ? [held] : Array.isArray(held) ? held : [];
        if (!tenants.includes(wanted)) return deny("forbidden", "tenant mismatch");
      }
      if (stepUp) {
        if (stepUp.acr && !(typeof claims.acr === "string" && stepUp.acr.includes(claims.acr))) {
          return deny("step-up", "acr insufficient");
        }
        if (stepUp.amr) {
          const amr = Array.isArray(claims.amr) ? claims.amr : [];
          if (!stepUp.amr.some((method) => amr.includes(method))) return deny("step-up", "amr insufficient");
        }
        if (stepUp.maxAge !== undefined) {
          const authTime = claims.auth_time;
          if (typeof authTime !== "number" || nowMs - authTime * 1000 > stepUp.maxAge) {
            return deny("step-up", "authentication too old");
          }
        }
      }
      return { allowed: true };
    },
  };
}
