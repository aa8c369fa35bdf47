/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and must not be forwarded, nor
 * may any header named in Connection. Forwarding headers are rebuilt by forwarded.ts.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  // Expect: 100-continue is answered by the gateway's own HTTP server; undici refuses it.
  "expect",
  // HTTP/2 connection-specific header (RFC 9113 §8.2.2).
  "http2-settings",
]);

/** Request headers the gateway sets itself; client-sent copies are dropped or rebuilt. */
const GATEWAY_OWNED_REQUEST = new Set([
  "host",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-real-ip",
  "x-request-id",
  "traceparent",
]);

export function connectionListed(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  // The common values name no header: answer without splitting.
  if (typeof connection === "string" && /^(?:keep-alive|close)$/i.test(connection)) return undefined;
  const names = new Set<string>();
  for (const part of [connection].flat().join(",").split(",")) {
    const name = part.trim().toLowerCase();
    if (name && name !== "close" && name !== "keep-alive") names.add(name);
  }
  return names.size > 0 ? names : undefined;
}

/**
 * Copies client request headers for the upstream: drops hop-by-hop headers, headers named in
 * Connection, HTTP/2 pseudo-headers and the headers the gateway owns. Returns a flat
 * [name, value, name, value, ...] list, which keeps repeated headers as they came.
 */
export function forwardableRequestHeaders(rawHeaders: readonly string[], keepUpgrade = false): string[] {
  let listed: Set<string> | undefined;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    // The length first: most names are not 10 characters long and need no lower-casing.
    if (name.length === 10 && name.toLowerCase() === "connection") {
      const names = connectionListed(rawHeaders[index + 1]);
      if (names) listed = listed ? new Set([...listed, ...names]) : names;
    }
  }
  const out: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!.toLowerCase();
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    if (GATEWAY_OWNED_REQUEST.has(name)) continue;
    if (HOP_BY_HOP.has(name) && !(keepUpgrade && (name === "upgrade" || name === "connection"))) continue;
    if (listed?.has(name) && !(keepUpgrade && name === "upgrade")) continue;
    out.push(name, rawHeaders[index + 1]!);
  }
  return out;
}

/**
 * The upstream response headers without hop-by-hop ones, and without the names in `drop` (the
 * banners a route strips), as a new object. Copying is cheaper than deleting: a delete turns the
 * object into a slow dictionary for every later access, the header writing included.
 */
export function responseHeadersWithoutHopByHop(
  headers: Record<string, string | string[] | undefined>,
  drop?: ReadonlyMap<string, unknown> | ReadonlySet<string>,
): Record<string, string | string[]> {
  const listed = connectionListed(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name) || drop?.has(name)) continue;
    out[name] = value;
  }
  return out;
}
