/**
 * Sorts a failed request into one error class. Matching is on `code` (Node's and undici's stable
 * error codes), never on message text, as undici advises.
 *
 *   connect  the connection could not be made (refused, unreachable, DNS)
 *   timeout  connect, headers or body timed out
 *   reset    the peer closed or reset the connection mid-request
 *   tls      the TLS handshake or certificate check failed
 *   http     the target answered with a 5xx status (counted by the caller, not here)
 *   other    anything else (kept so nothing is silently lost)
 */
export const ERROR_CLASSES = ["connect", "timeout", "reset", "tls", "http", "other"] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

const CONNECT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
]);
const TIMEOUT = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
]);
const RESET = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "ECONNABORTED", "HPE_INVALID_CONSTANT"]);
const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

export function classifyError(error: unknown): Exclude<ErrorClass, "http"> {
  // undici sometimes wraps the socket error; look at the cause chain too
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") {
      if (CONNECT.has(code)) return "connect";
      if (TIMEOUT.has(code)) return "timeout";
      if (TLS_CODES.has(code) || code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_")) return "tls";
      if (code.startsWith("CERT_")) return "tls";
      if (RESET.has(code)) return "reset";
    }
    current = (current as { cause?: unknown }).cause;
  }
  return "other";
}
