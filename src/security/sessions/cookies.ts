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
 * The Cookie header without the named cookies, other pairs byte for byte as they came; undefined
 * when nothing is left.
 */
export function withoutCookies(header: string, names: ReadonlySet<string>): string | undefined {
  const kept = header.split(";").filter((pair) => {
    const eq = pair.indexOf("=");
    const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
    return !names.has(name) && pair.trim() !== "";
  });
  if (kept.length === 0) return undefined;
  return kept.map((pair) => pair.trim()).join("; ");
}

/** True when any of `names` appears in the header (a cheap test before rewriting it). */
export function hasAnyCookie(header: string, names: readonly string[]): boolean {
  for (const name of names) if (header.includes(name)) return true;
  return false;
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
