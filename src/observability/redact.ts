/**
 * Redaction of secrets in what Bulwark logs. Header values are never logged except the few in
 * the access log (user agent, referer); query strings are logged with the values of secret-like
 * parameters replaced. Configured names extend both lists.
 */
export const REDACTED = "[REDACTED]";

/** Headers whose values are credentials (RFC 9110 §11, cookies, common API-key headers). */
export const SECRET_HEADERS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "x-auth-token",
  "x-csrf-token",
  "x-xsrf-token",
];

// token, access_token, id_token, password, passwd, pwd, secret, client_secret, api_key, apikey,
// key, signature, sig, session, sessionid, code (OAuth authorization codes), credential(s), auth.
const SECRET_PARAM =
  /^(?:.*(?:token|passw(?:or)?d|secret|api[-_]?key|session|credential|signature)s?.*|pwd|key|sig|code|auth|jwt)$/i;

export interface Redactor {
  query(query: string): string;
  /** A URL or path with a query (Referer). */
  url(value: string): string;
  header(name: string, value: string): string;
}

export function createRedactor(extraNames: readonly string[] = []): Redactor {
  const extra = new Set(extraNames.map((name) => name.toLowerCase()));
  const secretHeaders = new Set([...SECRET_HEADERS, ...extra]);
  const isSecretParam = (name: string): boolean => {
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, " "));
    } catch {
      // keep the raw name
    }
    return SECRET_PARAM.test(decoded) || extra.has(decoded.toLowerCase());
  };
  const query = (text: string): string => {
    if (text === "" || text === "?") return text;
    const body = text.startsWith("?") ? text.slice(1) : text;
    const parts = body.split("&").map((part) => {
      const eq = part.indexOf("=");
      const name = eq === -1 ? part : part.slice(0, eq);
      return eq !== -1 && isSecretParam(name) ? `${name}=${REDACTED}` : part;
    });
    return `${text.startsWith("?") ? "?" : ""}${parts.join("&")}`;
  };
  return {
    query,
    url(value: string): string {
      const at = value.indexOf("?");
      const withoutUserinfo = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i, `$1${REDACTED}@`);
      if (at === -1) return withoutUserinfo;
      const queryAt = withoutUserinfo.indexOf("?");
      return withoutUserinfo.slice(0, queryAt) + query(withoutUserinfo.slice(queryAt));
    },
    header(name: string, value: string): string {
      return secretHeaders.has(name.toLowerCase()) ? REDACTED : value;
    },
  };
}
