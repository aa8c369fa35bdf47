/**
 * The one place that fixes stage order. onRequest runs top to bottom; onResponse runs bottom to
 * top, so the first stage sees the final response (docs/lifecycle.md draws this).
 */
import type { ResolvedRoute } from "../config/resolve.js";
import type { RequestContext } from "./context.js";
import type { Reply, ResponseHead, Services, Stage, StageFactory } from "./stage.js";
import { auditStage } from "./stages/audit.js";
import { authnStage } from "./stages/authn.js";
import { authzStage } from "./stages/authz.js";
import { bruteForceStage } from "./stages/brute-force.js";
import { corsStage } from "./stages/cors.js";
import { csrfStage } from "./stages/csrf.js";
import { limitsStage } from "./stages/limits.js";
import { rateLimitStage } from "./stages/rate-limit.js";
import { requestIdStage } from "./stages/request-id.js";
import { securityHeadersStage } from "./stages/security-headers.js";
import { signInStage } from "./stages/sign-in.js";
import { traceContextStage } from "./stages/trace-context.js";

export const STAGE_ORDER: readonly StageFactory[] = [
  requestIdStage, // first: everything after it, errors included, carries the id
  traceContextStage,
  securityHeadersStage, // its onResponse runs late, so it sees gateway-made answers too
  corsStage, // preflights are answered before limits or authentication
  signInStage, // sign-in endpoints and the session lookup, before authn uses it
  bruteForceStage, // a locked-out client is refused before its credentials are checked
  authnStage, // before limits: an unauthenticated client gets no body read
  csrfStage, // on session-authenticated requests only, so after authn
  authzStage, // on the identity authn verified
  rateLimitStage, // before limits: a client over its rate gets no body read
  auditStage, // audit: required — the access is durable before it happens; only authorized ones
  limitsStage,
];

export interface StageChain {
  readonly stages: readonly Stage[];
  readonly requestStages: readonly Stage[];
  /** Reverse order, only stages with onResponse. */
  readonly responseStages: readonly Stage[];
}

export function buildChain(route: ResolvedRoute, services: Services): StageChain {
  const stages = STAGE_ORDER.map((factory) => factory(route, services)).filter(
    (stage): stage is Stage => stage !== null,
  );
  return {
    stages,
    requestStages: stages.filter((stage) => stage.onRequest),
    responseStages: stages.filter((stage) => stage.onResponse).reverse(),
  };
}

/**
 * Runs the request side; gives the first Reply a stage returns, or undefined to proxy. Stays
 * synchronous while the stages are, so a request whose stages are all synchronous allocates no
 * promise; from the first asynchronous stage on, it continues as a promise.
 */
export function runRequestStages(
  chain: StageChain,
  ctx: RequestContext,
  from = 0,
): Reply | undefined | Promise<Reply | undefined> {
  const stages = chain.requestStages;
  for (let index = from; index < stages.length; index++) {
    const result = stages[index]!.onRequest!(ctx);
    if (result instanceof Promise) {
      return result.then((reply) => reply ?? runRequestStages(chain, ctx, index + 1));
    }
    if (result) return result;
  }
  return undefined;
}

export function runResponseStages(chain: StageChain, ctx: RequestContext, head: ResponseHead): void {
  for (const stage of chain.responseStages) stage.onResponse!(ctx, head);
}
