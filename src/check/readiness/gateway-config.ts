/**
 * Checklist items from the gateway's own config (`bulwark check readiness --config FILE`): the
 * file passes every validation and fail-closed rule `bulwark serve` applies, HTTPS is configured,
 * every route keeps a security-header profile, and rate limits exist. Loading resolves
 * ${env:}/${file:} references, so run it with the production environment (a missing reference
 * is a failed item that names it).
 */
import { loadConfigFile } from "../../config/load.js";
import type { ResolvedConfig } from "../../config/resolve.js";
import { isBulwarkError } from "../../errors.js";
import type { ChecklistItem } from "./checklist.js";

export function gatewayConfigItems(file: string | undefined): ChecklistItem[] {
  const titles = [
    "gateway config valid (every fail-closed rule passes)",
    "HTTPS configured on a gateway listener",
    "security headers on every route",
    "rate limits configured",
  ];
  if (file === undefined)
    return titles.map((title) => ({
      area: "deployment",
      title,
      status: "not verified",
      evidence: "no --config FILE given",
    }));
  let config: ResolvedConfig;
  try {
    config = loadConfigFile(file);
  } catch (error) {
    const detail = isBulwarkError(error)
      ? [error.message, ...error.details.slice(0, 3)].join("; ")
      : (error as Error).message;
    return [
      { area: "deployment", title: titles[0]!, status: "fail", evidence: detail },
      ...titles.slice(1).map((title) => ({
        area: "deployment" as const,
        title,
        status: "not verified" as const,
        evidence: `${file} did not load`,
      })),
    ];
  }
  const tls = config.listeners.filter((listener) => listener.tls !== undefined);
  const behindProxy = config.listeners.filter(
    (listener) => (listener as { allowPlaintext?: boolean }).allowPlaintext === true,
  );
  const noHeaders = config.routes
    .filter((route) => route.headers.profile === "off")
    .map((route) => route.name);
  const limited = config.routes.filter((route) => route.rateLimit.length > 0).map((route) => route.name);
  return [
    {
      area: "deployment",
      title: titles[0]!,
      status: "pass",
      evidence: `${file}: ${config.listeners.length} listener(s), ${config.routes.length} route(s)`,
    },
    tls.length > 0
      ? {
          area: "deployment",
          title: titles[1]!,
          status: "pass",
          evidence: `TLS on ${tls.map((listener) => listener.name).join(", ")}`,
        }
      : behindProxy.length > 0
        ? {
            area: "deployment",
            title: titles[1]!,
            status: "not verified",
            evidence: `plaintext behind a TLS-terminating proxy (allowPlaintext) on ${behindProxy.map((l) => l.name).join(", ")}`,
          }
        : {
            area: "deployment",
            title: titles[1]!,
            status: "fail",
            evidence: "no listener has tls (loopback only?)",
          },
    noHeaders.length === 0
      ? {
          area: "deployment",
          title: titles[2]!,
          status: "pass",
          evidence: "no route uses headers.profile: off",
        }
      : {
          area: "deployment",
          title: titles[2]!,
          status: "fail",
          evidence: `headers.profile: off on ${noHeaders.join(", ")}`,
        },
    limited.length > 0
      ? {
          area: "deployment",
          title: titles[3]!,
          status: "pass",
          evidence: `rateLimit on ${limited.join(", ")}`,
        }
      : { area: "deployment", title: titles[3]!, status: "fail", evidence: "no route has a rateLimit rule" },
  ];
}
