/**
 * Cookie header parsing and Set-Cookie serialization for the gateway's own cookies (RFC 6265).
 * Parsing is lenient in what it skips (malformed pairs are ignored, as browsers do) and strict in
 * what it returns: only the named cookies, first occurrence wins (RFC 6265 §5.4 orders cookies
 * with longer paths first; the gateway's cookies all have Path=/).
 */

export interface CookieAttributes {
  /** Seconds; 0 deletes the cookie. Absent: a session cookie (until the browser closes). */
  readonly maxAge?: number;
  readonly httpOnly: boolean;
  readonly sameSite: "Strict" | "Lax";
}

/** The first value of cookie `name` in a Cookie header (or several, as HTTP/2 sends them). */
export function readCookie(header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = typeof header === "string" ? header : header.join("; ");
  if (!text.includes(name)) return undefined;
  for (const pair of text.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim() === name) {
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
  }
  return undefined;
}

/**
 * The Cookie header without the cookies whose names `drop` picks, other pairs byte for byte as
 * they came; undefined when nothing is left.
 */
export function withoutCookies(header: string, drop: (name: string) => boolean): string | undefined {
  const kept = header.split(";").filter((pair) => pair.trim() !== "" && !drop(cookieName(pair)));
  if (kept.length === 0) return undefined;
  return kept.map((pair) => pair.trim()).join("; ");
}

/** The names of the cookies in a Cookie header that start with `prefix`, in order, without repeats. */
export function cookieNamesWithPrefix(header: string | undefined, prefix: string): string[] {
  if (header === undefined || !header.includes(prefix)) return [];
  const names = new Set<string>();
  for (const pair of header.split(";")) {
    const name = cookieName(pair);
    if (name.startsWith(prefix)) names.add(name);
  }
  return [...names];
}

function cookieName(pair: string): string {
  const eq = pair.indexOf("=");
  return (eq === -1 ? pair : pair.slice(0, eq)).trim();
}

/**
 * A Set-Cookie value for a `__Host-` cookie: Secure, Path=/ and no Domain are what the prefix
 * requires (draft-ietf-httpbis-rfc6265bis §4.1.3.2), so the cookie is bound to this exact host
 * and cannot be set or overwritten by a sibling subdomain or over plaintext.
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let text = `${name}=${value}; Path=/; Secure`;
  if (attributes.httpOnly) text += "; HttpOnly";
  text += `; SameSite=${attributes.sameSite}`;
  if (attributes.maxAge !== undefined) text += `; Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}`;
  return text;
}
