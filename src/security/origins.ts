/**
 * Origin allow-lists for CORS: exact origins ("https://app.example.com") and subdomain patterns
 * ("https://*.example.com", one or more labels, never the bare parent). Matching is exact on the
 * serialized origin (RFC 6454): scheme, host and port; an origin is never reflected unless listed.
 */
const ORIGIN =
  /^(https?):\/\/(\*\.)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/;

export function validOriginPattern(pattern: string): boolean {
  const match = ORIGIN.exec(pattern);
  if (!match) return false;
  if (match[4] !== undefined && Number(match[4]) > 65535) return false;
  // "*.com" would admit every site under a public suffix: ask for at least two labels after *.
  if (match[2] && !match[3]!.includes(".")) return false;
  return true;
}

export interface OriginMatcher {
  readonly any: boolean;
  matches(origin: string): boolean;
}

export function compileOriginMatcher(patterns: readonly string[]): OriginMatcher {
  const exact = new Set<string>();
  const suffixes: { scheme: string; suffix: string; port: string }[] = [];
  let any = false;
  for (const pattern of patterns) {
    if (pattern === "*") {
      any = true;
      continue;
    }
    const match = ORIGIN.exec(pattern.toLowerCase());
    if (!match) continue;
    if (match[2]) suffixes.push({ scheme: match[1]!, suffix: `.${match[3]}`, port: match[4] ?? "" });
    else exact.add(pattern.toLowerCase());
  }
  return {
    any,
    matches(origin: string): boolean {
      if (any) return true;
      if (origin.length > 2048) return false;
      const lower = origin.toLowerCase();
      if (exact.has(lower)) return true;
      if (suffixes.length === 0) return false;
      const match = ORIGIN.exec(lower);
      if (!match || match[2]) return false;
      const host = match[3]!;
      const port = match[4] ?? "";
      return suffixes.some(
        (s) =>
          s.scheme === match[1] &&
          s.port === port &&
          host.endsWith(s.suffix) &&
          host.length > s.suffix.length,
      );
    },
  };
}
