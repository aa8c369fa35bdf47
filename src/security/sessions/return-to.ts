/**
 * Where a browser goes after signing in. Only a path on this same origin is accepted: anything
 * that a browser could read as another origin ("//evil.example", "/\evil.example", an absolute
 * URL, control characters) becomes "/", so the sign-in endpoint is never an open redirect
 * (CWE-601).
 */
const BASE = "http://bulwark.invalid";
const MAX_LENGTH = 2048;

export function safeReturnPath(value: string | null | undefined): string {
  if (!value || value.length > MAX_LENGTH) return "/";
  if (!value.startsWith("/") || value.startsWith("//") || /[\\\x00-\x1f\x7f]/.test(value)) return "/";
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return "/";
  }
  if (url.origin !== BASE) return "/";
  return url.pathname + url.search;
}
