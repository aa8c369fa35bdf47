/**
 * Sends one request on a keep-alive undici Pool and reads the whole body, returning what
 * happened. Never throws: every failure becomes an Outcome with an error class.
 */
import type { Pool } from "undici";
import { dispatchRequest } from "./dispatch.js";
import type { Outcome } from "./metrics.js";
import type { RequestSpec } from "./plan.js";

export async function sendOne(pool: Pool, spec: RequestSpec, timeoutMs: number): Promise<Outcome> {
  const answer = await dispatchRequest(pool, {
    path: spec.path,
    method: spec.method as "GET",
    headers: spec.headers,
    body: spec.body ?? null,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return answer.outcome;
}
