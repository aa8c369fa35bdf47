/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): a valid incoming traceparent keeps
 * its trace id and flags, and Bulwark's hop gets its own span id as the new parent; an invalid or
 * absent one starts a new trace. tracestate passes through untouched (the spec forbids changing
 * it without a valid traceparent, so it is dropped when the traceparent was invalid).
 */
import type { RequestContext } from "../context.js";
import { randomHex } from "../random-ids.js";
import type { StageFactory } from "../stage.js";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export interface TraceIds {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: string;
  readonly continued: boolean;
}

/** Derives this hop's ids from an incoming traceparent header. */
export function traceIdsFrom(header: string | string[] | undefined): TraceIds {
  if (typeof header === "string") {
    const match = TRACEPARENT.exec(header.trim());
    // Version ff is invalid; version 00 must have exactly four fields.
    if (
      match &&
      match[1] !== "ff" &&
      !(match[1] === "00" && header.trim().length !== 55) &&
      match[2] !== ZERO_TRACE &&
      match[3] !== ZERO_SPAN
    ) {
      return { traceId: match[2]!, spanId: randomHex(8), flags: match[4]!, continued: true };
    }
  }
  // A new trace: both ids from one draw (one hex conversion instead of two).
  const ids = randomHex(24);
  return { traceId: ids.slice(0, 32), spanId: ids.slice(32), flags: "01", continued: false };
}

function traceparentOf(ctx: RequestContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.traceFlags}`;
}

export const traceContextStage: StageFactory = () => ({
  name: "trace-context",
  onRequest: function propagateTrace(ctx) {
    ctx.upstreamHeaders.traceparent = traceparentOf(ctx);
    return undefined;
  },
  onResponse: function returnTrace(ctx, head) {
    head.headers.traceparent = traceparentOf(ctx);
  },
});
