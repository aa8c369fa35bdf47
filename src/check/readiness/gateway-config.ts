/**
 * Checklist items from the gateway's own config (`bulwark check` with a config file): the file
 * passes every validation and fail-closed rule `bulwark serve` applies, HTTPS is configured,
 * every route keeps a security-header profile, and rate limits exist. Loading resolves
 * ${env:}/${file:} references, so run it with the production environment (a missing reference
 * is a failed item that names it).
 */
import { loadConfigFile } from "../../config/load.js";
import type { ResolvedConfig } from "../../config/resolve.js";
import { isBulwarkError } from "../../errors.js";
import type { ChecklistItem, ItemStatus } from "./checklist.js";

const ITEMS = [
  ["config-valid", "gateway config valid (every fail-closed rule passes)"],
  ["config-https", "HTTPS configured on a gateway listener"],
  ["config-headers", "security headers on every route"],
  ["config-rate-limits", "rate limits configured"],
] as const;

type Verdict = readonly [ItemStatus, string];

function items(verdicts: readonly Verdict[]): ChecklistItem[] {
  return ITEMS.map(([id, title], index) => ({
    id,
    area: "deployment",
    title,
    status: verdicts[index]![0],
    evidence: verdicts[index]![1],
  }));
}

const notVerified = (why: string): Verdict[] => ITEMS.map(() => ["not verified", why] as const);

/**
 * `file` undefined: no config given. `raw`, when the caller already parsed the file: a file
 * holding only a readiness section (no listeners, upstreams or routes) has no gateway to judge.
 */
export function gatewayConfigItems(
  file: string | undefined,
  raw?: Readonly<Record<string, unknown>>,
): ChecklistItem[] {
  if (file === undefined) return items(notVerified("no config file given (-c FILE, or bulwark.yaml here)"));
  if (raw && !["listeners", "upstreams", "routes"].some((key) => key in raw))
    return items(notVerified(`${file} has no gateway config (no listeners, upstreams or routes)`));
  let config: ResolvedConfig;
  try {
    config = loadConfigFile(file);
  } catch (error) {
    const detail = isBulwarkError(error)
      ? [error.message, ...error.details.slice(0, 3)].join("; ")
      : (error as Error).message;
    return items([["fail", detail], ...notVerified(`${file} did not load`).slice(1)]);
  }
  const tls = config.listeners.filter((listener) => listener.tls !== undefined);
  const behindProxy = config.listeners.filter(
    (listener) => (listener as { allowPlaintext?: boolean }).allowPlaintext === true,
  );
  const noHeaders = config.routes
    .filter((route) => route.headers.profile === "off")
    .map((route) => route.name);
  const limited = config.routes.filter((route) => route.rateLimit.length > 0).map((route) => route.name);
  return items([
    ["pass", `${file}: ${config.listeners.length} listener(s), ${config.routes.length} route(s)`],
    tls.length > 0
      ? ["pass", `TLS on ${tls.map((listener) => listener.name).join(", ")}`]
      : behindProxy.length > 0
        ? [
            "not verified",
            `plaintext behind a TLS-terminating proxy (allowPlaintext) on ${behindProxy.map((l) => l.name).join(", ")}`,
          ]
        : ["fail", "no listener has tls (loopback only?)"],
    noHeaders.length === 0
      ? ["pass", "no route uses headers.profile: off"]
      : ["fail", `headers.profile: off on ${noHeaders.join(", ")}`],
    limited.length > 0
      ? ["pass", `rateLimit on ${limited.join(", ")}`]
      : ["fail", "no route has a rateLimit rule"],
  ]);
}
