/**
 * Request-target parsing and path normalization, done before routing so that the path the
 * router sees is the path the upstream gets: dot segments resolved (RFC 3986 §5.2.4, also in
 * their %2e forms) and repeated slashes merged, as nginx does. Otherwise "/public/../admin" or
 * "//admin" could match a permissive route and reach a protected path upstream.
 */

export interface RequestTarget {
  readonly path: string;
  /** "?..." or "" */
  readonly query: string;
  /** Host from an absolute-form target (RFC 9112 §3.2.2), which wins over the Host header. */
  readonly host?: string;
}

export type TargetResult = RequestTarget | { readonly error: string };

const NEEDS_NORMALIZING = /[.%\\]|\/\//;

export function parseRequestTarget(url: string): TargetResult {
  let target = url;
  let host: string | undefined;
  if (!target.startsWith("/")) {
    if (/^https?:\/\//i.test(target)) {
      let parsed: URL;
      try {
        parsed = new URL(target);
      } catch {
        return { error: "the absolute request target is not a valid URL" };
      }
      host = parsed.host;
      target = `${parsed.pathname}${parsed.search}`;
    } else {
      return { error: "the request target must be a path starting with /" };
    }
  }
  const queryAt = target.indexOf("?");
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 ? "" : target.slice(queryAt);
  const hashAt = rawPath.indexOf("#");
  if (hashAt !== -1) return { error: "the request target must not contain a fragment" };
  if (!NEEDS_NORMALIZING.test(rawPath))
    return host === undefined ? { path: rawPath, query } : { path: rawPath, query, host };
  const path = normalizePath(rawPath);
  if (path === undefined)
    return {
      error:
        "the request path is not valid (dot segments above the root, a backslash, or bad percent-encoding)",
    };
  return host === undefined ? { path, query } : { path, query, host };
}

export function normalizePath(raw: string): string | undefined {
  // Backslashes are path separators to some servers (IIS, some frameworks) and not to others: refuse the ambiguity.
  if (raw.includes("\\") || /%5c/i.test(raw)) return undefined;
  if (/%(?![0-9a-fA-F]{2})/.test(raw)) return undefined;
  const segments = raw.split("/");
  const out: string[] = [];
  for (let index = 1; index < segments.length; index++) {
    const segment = segments[index]!;
    const decoded = segment.replace(/%2e/gi, ".");
    const last = index === segments.length - 1;
    if (decoded === "..") {
      if (out.length === 0) return undefined;
      out.pop();
      if (last) out.push("");
    } else if (decoded === ".") {
      if (last) out.push("");
    } else if (segment === "" && !last) {
      // merge repeated slashes
    } else {
      out.push(segment);
    }
  }
  const path = `/${out.join("/")}`;
  return path.replace(/\/{2,}/g, "/");
}

/** Replaces a matched route prefix with another one. */
export function rewritePath(path: string, matchedPrefix: string, replacement: string): string {
  const rest = matchedPrefix === "/" ? path : path.slice(matchedPrefix.length);
  const base = replacement === "/" ? "" : replacement.replace(/\/$/, "");
  const joined = base + (rest === "" || rest.startsWith("/") ? rest : `/${rest}`);
  return joined === "" ? "/" : joined;
}
