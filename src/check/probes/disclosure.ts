/**
 * Disclosure signatures: version banners, stack traces and framework error pages, database errors,
 * directory listings, and what a sensitive path's body must look like to count as exposed (a
 * status 200 alone is not enough: many sites answer every path with 200, the "soft 404").
 */
import { BANNER_HEADERS } from "../../gateway/header-profiles.js";
import type { ProbeResponse } from "./http-client.js";

export function serverVersion(response: ProbeResponse): string | undefined {
  const server = response.headers.server;
  return server !== undefined && /\d/.test(server) ? `server: ${server}` : undefined;
}

/** Framework banners: every header Bulwark strips as a banner, except Server (judged by version). */
export function frameworkBanners(response: ProbeResponse): string[] {
  const out: string[] = [];
  for (const name of BANNER_HEADERS.keys()) {
    if (name === "server") continue;
    const value = response.headers[name];
    if (value !== undefined) out.push(`${name}: ${value}`);
  }
  return out;
}

const STACK_TRACES: readonly [string, RegExp][] = [
  ["Node.js stack trace", /\n\s+at (?:[\w$.<>\s[\]]+ \()?(?:\/|[A-Za-z]:\\|node:|file:)[^\n)]*:\d+:\d+\)?/],
  ["Python traceback", /Traceback \(most recent call last\):/],
  ["Java stack trace", /\bat [\w$.]+\([\w$]+\.java:\d+\)|java\.lang\.[\w.]*(Exception|Error)\b/],
  [
    ".NET error",
    /Server Error in '[^']*' Application|System\.[\w.]+Exception|\bat [\w.<>`]+\(.*\) in .+:line \d+/,
  ],
  ["PHP error", /<b>(?:Fatal error|Warning|Parse error|Notice)<\/b>:.* in <b>[^<]+<\/b> on line <b>\d+<\/b>/],
  ["Ruby backtrace", /\.rb:\d+:in `/],
  ["Go panic", /goroutine \d+ \[running\]:/],
  ["Werkzeug debugger", /Werkzeug Debugger|The debugger caught an exception/],
];

export function stackTrace(text: string): string | undefined {
  for (const [name, pattern] of STACK_TRACES) {
    const match = pattern.exec(text);
    if (match) return `${name}: ${match[0].trim().slice(0, 120)}`;
  }
  return undefined;
}

const DB_ERRORS: readonly RegExp[] = [
  /You have an error in your SQL syntax[^<\n]*/i,
  /\bORA-\d{5}[^<\n]*/,
  /\bPG::\w+Error[^<\n]*/,
  /ERROR:\s+syntax error at or near[^<\n]*/i,
  /unterminated quoted string[^<\n]*/i,
  /SQLSTATE\[\w+\][^<\n]*/,
  /sqlite3?\.OperationalError[^<\n]*/i,
  /SQLITE_ERROR[^<\n]*/,
  /Unclosed quotation mark after the character string[^<\n]*/i,
  /Microsoft OLE DB Provider for SQL Server[^<\n]*/i,
  /\bjava\.sql\.SQLException[^<\n]*/,
  /quoted string not properly terminated[^<\n]*/i,
];

export function databaseError(text: string): string | undefined {
  for (const pattern of DB_ERRORS) {
    const match = pattern.exec(text);
    if (match) return match[0].trim().slice(0, 160);
  }
  return undefined;
}

export function directoryListing(text: string): string | undefined {
  const match =
    /<title>\s*(Index of \/[^<]*|Directory listing for [^<]*|Directory Listing[^<]*)<\/title>|<h1>\s*Index of \/[^<]*<\/h1>/i.exec(
      text,
    );
  return match ? match[0].replace(/<[^>]+>/g, "").trim() : undefined;
}

/** True when a response is the same page the random (non-existent) path got. */
export function looksLikeBaseline(response: ProbeResponse, baseline: ProbeResponse | undefined): boolean {
  if (!baseline || baseline.status !== response.status) return false;
  if (baseline.body.equals(response.body)) return true;
  // Error templates often echo the requested path: compare with each path blanked out.
  const normalize = (item: ProbeResponse) => {
    const path = new URL(item.url).pathname;
    return item.text.split(path).join("{path}").split(decodeURIComponentSafe(path)).join("{path}");
  };
  const a = normalize(baseline);
  const b = normalize(response);
  if (a === b) return true;
  return (
    Math.abs(a.length - b.length) <= Math.max(32, 0.05 * Math.max(a.length, b.length)) &&
    a.slice(0, 200) === b.slice(0, 200)
  );
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface SensitivePath {
  readonly path: string;
  readonly id: string;
  /** What the body must show for the path to count as exposed. */
  readonly signature: (response: ProbeResponse) => string | undefined;
}

const isHtml = (response: ProbeResponse) =>
  /html/i.test(response.headers["content-type"] ?? "") || /^\s*<(!doctype|html)/i.test(response.text);
const first = (pattern: RegExp) => (response: ProbeResponse) => {
  const match = pattern.exec(response.text);
  return match ? match[0].trim().slice(0, 100) : undefined;
};
const archive = (response: ProbeResponse) => {
  const body = response.body;
  if (body.length >= 4 && body[0] === 0x50 && body[1] === 0x4b && body[2] === 0x03 && body[3] === 0x04)
    return "zip archive";
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) return "gzip archive";
  const sql = /^(?:--|\/\*|CREATE TABLE|INSERT INTO|DROP TABLE)[^\n]*/im.exec(response.text.slice(0, 4096));
  return sql && !isHtml(response) ? `SQL dump: ${sql[0].slice(0, 60)}` : undefined;
};

/** The sensitive paths probed, in order; docs/checks.md lists the same. */
export const SENSITIVE_PATHS: readonly SensitivePath[] = [
  {
    path: "/.env",
    id: "disc-env-file",
    signature: (r) =>
      isHtml(r) ? undefined : first(/^\s*[A-Z][A-Z0-9_]*\s*=\s*\S*/m)(r)?.replace(/=.*/, "=…"),
  },
  { path: "/.git/config", id: "disc-git-exposed", signature: first(/\[core\][^\n]*/) },
  {
    path: "/server-status",
    id: "disc-server-status",
    signature: first(/Apache Server Status[^<\n]*|Server uptime[^<\n]*|Active connections:\s*\d+/),
  },
  { path: "/actuator", id: "disc-actuator", signature: first(/"_links"\s*:\s*\{/) },
  { path: "/actuator/env", id: "disc-actuator", signature: first(/"(propertySources|activeProfiles)"\s*:/) },
  {
    path: "/metrics",
    id: "ops-metrics-public",
    signature: first(/^# (?:HELP|TYPE) [a-zA-Z_:][\w:]*[^\n]*/m),
  },
  {
    path: "/debug",
    id: "disc-debug-endpoint",
    signature: (r) => (r.text.length > 0 ? first(/debug[^<\n]{0,80}/i)(r) : undefined),
  },
  {
    path: "/debug/pprof/",
    id: "disc-debug-endpoint",
    signature: first(/goroutine|Types of profiles available|\/debug\/pprof\/heap/i),
  },
  { path: "/backup.zip", id: "disc-backup-file", signature: archive },
  { path: "/backup.tar.gz", id: "disc-backup-file", signature: archive },
  { path: "/backup.sql", id: "disc-backup-file", signature: archive },
];

export const LISTING_PATHS: readonly string[] = ["/static/", "/uploads/"];
export const HEALTH_PATHS: readonly string[] = [
  "/health",
  "/healthz",
  "/ready",
  "/readyz",
  "/live",
  "/livez",
  "/status",
];
