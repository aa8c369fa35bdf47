/**
 * Request ids: a well-formed incoming X-Request-Id is kept (so ids set by an edge proxy survive),
 * anything else is replaced with a fresh UUID. The id goes upstream and back to the client.
 */
import { randomUUID } from "node:crypto";
import type { StageFactory } from "../stage.js";

// Conservative shape: enough for UUIDs, ULIDs and most vendor ids, nothing that could inject
// into logs or headers.
const WELL_FORMED = /^[A-Za-z0-9._:@-]{8,128}$/;

export function acceptRequestId(value: string | string[] | undefined): string {
  return typeof value === "string" && WELL_FORMED.test(value) ? value : randomUUID();
}

export const requestIdStage: StageFactory = () => ({
  name: "request-id",
  onRequest: function assignRequestId(ctx) {
    ctx.upstreamHeaders["x-request-id"] = ctx.requestId;
    return undefined;
  },
  onResponse: function returnRequestId(ctx, head) {
    head.headers["x-request-id"] = ctx.requestId;
  },
});
