/**
 * Sends one request on a keep-alive undici Pool and reads the whole body, returning what
 * happened. Never throws: every failure becomes an Outcome with an error class.
 */
import type { Pool } from "undici";
import { classifyError } from "./error-class.js";
import type { Outcome } from "./metrics.js";
import type { RequestSpec } from "./plan.js";

export async function sendOne(pool: Pool, spec: RequestSpec, timeoutMs: number): Promise<Outcome> {
  let bytes = 0;
  try {
    const response = await pool.request({
      path: spec.path,
      method: spec.method as "GET",
      headers: spec.headers,
      body: spec.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    for await (const chunk of response.body) bytes += (chunk as Buffer).length;
    return { kind: "response", status: response.statusCode, bytes };
  } catch (error) {
    return { kind: "failure", errorClass: classifyError(error), bytes };
  }
}
