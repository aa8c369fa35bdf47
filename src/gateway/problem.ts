/**
 * RFC 9457 problem details for every gateway-made error: a stable `code`, the request id, and
 * nothing internal (no stack, no upstream address). docs/errors.md lists the codes.
 */
import { type ErrorCode, ErrorCodes } from "../errors.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export function problemBody(code: ErrorCode, requestId: string | undefined, detail?: string): string {
  const spec = ErrorCodes[code];
  return JSON.stringify({
    type: `urn:bulwark:error:${code}`,
    title: spec.title,
    status: spec.status,
    code,
    ...(detail === undefined ? {} : { detail }),
    ...(requestId === undefined ? {} : { requestId }),
  });
}

/** A complete HTTP/1.1 response for errors raised before a request object exists (parse errors). */
export function rawProblemResponse(code: ErrorCode, detail?: string): string {
  const spec = ErrorCodes[code];
  const body = problemBody(code, undefined, detail);
  return (
    `HTTP/1.1 ${spec.status} ${spec.title}\r\n` +
    `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    "connection: close\r\n\r\n" +
    body
  );
}
