/**
 * `audit: required` routes (issue 3 §6): the access is written durably to the audit trail before
 * the request goes upstream. When the trail cannot make it durable now (store down, queue full),
 * the request is refused with 503 `audit_unavailable`: no access without its record. The record
 * of how the request ended (`audit: true` and `required`) is written after the response
 * (audit-events.ts, server.ts), never blocking it.
 */
import { requestEvent } from "../audit-events.js";
import type { Reply, StageFactory } from "../stage.js";

const UNAVAILABLE: Reply = {
  status: 503,
  problem: {
    code: "audit_unavailable",
    detail: "the audit trail cannot record this access now; retry later",
  },
};

export const auditStage: StageFactory = (route, services) => {
  if (route.audit !== "required") return null;
  const trail = services.audit;
  if (!trail) return { name: "audit", onRequest: () => UNAVAILABLE };
  return {
    name: "audit",
    onRequest: function recordAccess(ctx) {
      if (!trail.available) return UNAVAILABLE;
      return trail.recordDurable(requestEvent(ctx, null)).then(
        () => undefined,
        () => UNAVAILABLE,
      );
    },
  };
};
