/**
 * Which audit records a finished request makes (issue 3 §6), decided in one place after the
 * response, off the request path:
 *
 * - a security outcome on any route: credentials refused (`token.rejected`, `apikey.rejected`,
 *   `auth.rejected` for sessions), access denied or step-up required (`access.denied`), rate
 *   limited (`ratelimit.limited`), locked out (`lockout`);
 * - every request on routes with `audit: true | required` (`request`, with the subject, the
 *   route and the resource id, and the status).
 *
 * Records hold only what event.ts allows: never headers, tokens, cookies or bodies.
 */
import type { AuditEvent } from "../audit/event.js";
import type { RequestContext } from "./context.js";

const REJECTED_ACTION: Readonly<Record<string, string>> = {
  jwt: "token.rejected",
  "api-key": "apikey.rejected",
  session: "auth.rejected",
};

/** The segment after the route's prefix ("/api/patients" + "/42/notes" → "42"), bounded. */
export function resourceId(ctx: RequestContext): string | null {
  const prefix = ctx.route.pathPrefix === "/" ? "" : ctx.route.pathPrefix;
  const rest = ctx.path.slice(prefix.length).split("/")[1];
  return rest === undefined || rest === "" ? null : rest.slice(0, 128);
}

function base(ctx: RequestContext, status: number | null) {
  return {
    subject: ctx.identity?.subject ?? null,
    resource: { route: ctx.route.name, id: resourceId(ctx) },
    method: ctx.method,
    status,
    clientIp: ctx.clientIp,
    requestId: ctx.requestId,
    traceId: ctx.traceId,
  };
}

/** The security event a finished request carries, or null. */
export function securityEvent(ctx: RequestContext, status: number): AuditEvent | null {
  switch (ctx.errorCode) {
    case "unauthorized":
      return {
        ...base(ctx, status),
        action: REJECTED_ACTION[ctx.authMethod ?? ""] ?? "token.rejected",
        outcome: "failure",
        reason: "unauthorized",
      };
    case "forbidden":
    case "step_up_required":
      return { ...base(ctx, status), action: "access.denied", outcome: "denied", reason: ctx.errorCode };
    case "rate_limited":
      return { ...base(ctx, status), action: "ratelimit.limited", outcome: "denied", reason: "rate_limited" };
    case "locked_out":
      return { ...base(ctx, status), action: "lockout", outcome: "denied", reason: "locked_out" };
    default:
      return null;
  }
}

/** The access record of a request on an audited route. */
export function requestEvent(ctx: RequestContext, status: number | null): AuditEvent {
  const outcome =
    status === null || status < 400
      ? "success"
      : status === 401 || status === 403 || status === 429
        ? "denied"
        : status >= 500
          ? "error"
          : "failure";
  return { ...base(ctx, status), action: "request", outcome, reason: ctx.errorCode };
}
