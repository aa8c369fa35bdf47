/**
 * Route matching, compiled once per config: the most specific host wins (exact, then the longest
 * wildcard suffix, then routes without a host), and within a host the longest path prefix wins,
 * on segment boundaries ("/api" matches "/api" and "/api/x", not "/apix").
 */
import type { ResolvedRoute } from "../config/resolve.js";

interface HostRoutes {
  /** Longest prefix first. */
  readonly routes: readonly ResolvedRoute[];
}

export interface Router {
  match(host: string, path: string): ResolvedRoute | undefined;
}

export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === "/") return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* "/" */;
}

function byPrefixLength(routes: ResolvedRoute[]): HostRoutes {
  return {
    routes: [...routes].sort((a, b) => b.pathPrefix.length - a.pathPrefix.length || a.index - b.index),
  };
}

function firstMatch(group: HostRoutes | undefined, path: string): ResolvedRoute | undefined {
  if (!group) return undefined;
  for (const route of group.routes) if (prefixMatches(route.pathPrefix, path)) return route;
  return undefined;
}

export function compileRouter(routes: readonly ResolvedRoute[]): Router {
  const exact = new Map<string, ResolvedRoute[]>();
  const wildcard = new Map<string, ResolvedRoute[]>();
  const anyHost: ResolvedRoute[] = [];
  for (const route of routes) {
    if (route.hosts === null) {
      anyHost.push(route);
      continue;
    }
    for (const host of route.hosts) {
      const table = host.startsWith("*.") ? wildcard : exact;
      const key = host.startsWith("*.") ? host.slice(1) : host;
      const list = table.get(key) ?? [];
      list.push(route);
      table.set(key, list);
    }
  }
  const exactGroups = new Map([...exact].map(([host, list]) => [host, byPrefixLength(list)] as const));
  // Longest suffix first: "*.api.example.com" is more specific than "*.example.com".
  const wildcardGroups = [...wildcard]
    .sort(([a], [b]) => b.length - a.length)
    .map(([suffix, list]) => ({ suffix, group: byPrefixLength(list) }));
  const fallback = byPrefixLength(anyHost);

  return {
    match(host: string, path: string): ResolvedRoute | undefined {
      const exactRoute = firstMatch(exactGroups.get(host), path);
      if (exactRoute) return exactRoute;
      for (const { suffix, group } of wildcardGroups) {
        if (host.length > suffix.length && host.endsWith(suffix)) {
          const route = firstMatch(group, path);
          if (route) return route;
        }
      }
      return firstMatch(fallback, path);
    },
  };
}
