/**
 * Where a request carries its API key, without HTTP types (the gateway passes header values):
 * a dedicated header (`X-API-Key: bwk_…`, the default) or `Authorization: Bearer bwk_…`
 * (RFC 6750 §2.1). The `bwk_` prefix tells an API key from a JWT in the same Authorization
 * header, so a route can accept both and each credential method takes only its own.
 */
import { KEY_PREFIX, MAX_PRESENTED_LENGTH } from "./key-format.js";

const BEARER = /^Bearer[ ]+/i;

/** True when a bearer token is an API key rather than a JWT (cheap; no validation). */
export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(KEY_PREFIX);
}

/**
 * The presented key, or null when this request carries none for this header (the next
 * credential method is asked). A repeated header is returned joined, so the verifier refuses it
 * as malformed rather than picking one copy. Oversized values are cut to one character over the
 * limit, so the verifier refuses them as oversized without copying megabytes.
 */
export function presentedKey(header: string, value: string | readonly string[] | undefined): string | null {
  if (value === undefined) return null;
  const text = (typeof value === "string" ? value : value.join(",")).slice(0, MAX_PRESENTED_LENGTH + 64);
  if (header.toLowerCase() === "authorization") {
    const match = BEARER.exec(text);
    if (!match) return null;
    const token = text.slice(match[0].length).trim();
    return looksLikeApiKey(token) ? token.slice(0, MAX_PRESENTED_LENGTH + 1) : null;
  }
  const trimmed = text.trim();
  return trimmed === "" ? null : trimmed.slice(0, MAX_PRESENTED_LENGTH + 1);
}
