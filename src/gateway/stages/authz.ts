/**
 * Authorization (issue 3 §3): after authentication, the route's policy decides on the verified
 * claims. A denial is a 403 `forbidden`; a missing step-up is a 401 with the RFC 9470 challenge
 * (`error="insufficient_user_authentication"`, `acr_values`, `max_age`), so a client knows to
 * authenticate again more strongly. Details stay in debug logs. A request that reached this stage
 * without an identity (authentication in shadow mode) is denied.
 */

import { compileAuthorization, type RequestFacts } from "../../security/authorization/policy.js";
import type { RequestContext } from "../context.js";
import type { Reply, StageFactory } from "../stage.js";

const FORBIDDEN: Reply = {
  status: 403,
  problem: { code: "forbidden", detail: "the credentials do not grant access to this resource" },
};

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, "")}"`;
}

export const authzStage: StageFactory = (route, services) => {
  const config = route.authorize;
  if (!config) return null;
  const policy = compileAuthorization(config);
  const { enforce } = config;
  const log = services.log;
  let challenge = 'Bearer realm="bulwark", error="insufficient_user_authentication"';
  if (policy.acrValues !== undefined) challenge += `, acr_values=${quoted(policy.acrValues)}`;
  if (policy.maxAgeSeconds !== undefined) challenge += `, max_age=${policy.maxAgeSeconds}`;
  const STEP_UP: Reply = {
    status: 401,
    headers: { "www-authenticate": challenge },
    problem: { code: "step_up_required", detail: "a stronger or more recent authentication is required" },
  };
  const facts = (ctx: RequestContext): RequestFacts => ({
    path: ctx.path,
    header(name) {
      const value = ctx.req.headers[name];
      return typeof value === "string" ? value : undefined;
    },
  });

  function refuse(ctx: RequestContext, reason: string, reply: Reply): Reply | undefined {
    log?.debug(
      { requestId: ctx.requestId, route: route.name, subject: ctx.identity?.subject, reason, enforce },
      enforce ? "access denied" : "access would be denied (shadow mode)",
    );
    return enforce ? reply : undefined;
  }

  return {
    name: "authz",
    onRequest: function authorize(ctx) {
      const identity = ctx.identity;
      if (identity === null) return refuse(ctx, "no identity", FORBIDDEN);
      const decision = policy.evaluate(identity.claims, facts(ctx), Date.now());
      if (decision.allowed) return undefined;
      return refuse(ctx, decision.reason, decision.kind === "step-up" ? STEP_UP : FORBIDDEN);
    },
  };
};
