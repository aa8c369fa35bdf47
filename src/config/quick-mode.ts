/**
 * Quick mode: `bulwark serve --upstream URL ...` without a file. Flags become the same raw
 * config object a file would give, and go through the same validation and fail-closed rules.
 */
export interface QuickModeFlags {
  readonly upstream: readonly string[];
  readonly listen?: string;
  readonly admin?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly redirectFrom?: string;
  readonly profile?: string;
  readonly allowPlaintext?: boolean;
  readonly trustedProxy?: readonly string[];
  readonly workers?: string;
  readonly logLevel?: string;
  readonly maxBodySize?: string;
}

export function quickModeConfig(flags: QuickModeFlags): Record<string, unknown> {
  const tls =
    flags.tlsCert || flags.tlsKey ? { cert: flags.tlsCert ?? "", key: flags.tlsKey ?? "" } : undefined;
  const listen = flags.listen ?? (tls ? "127.0.0.1:8443" : "127.0.0.1:8080");
  const listeners: Record<string, unknown>[] = [
    {
      name: "main",
      address: listen,
      ...(tls ? { tls } : {}),
      ...(flags.allowPlaintext ? { allowPlaintext: true } : {}),
    },
  ];
  if (flags.redirectFrom)
    listeners.push({ name: "redirect", address: flags.redirectFrom, redirectToHttps: {} });
  const workers =
    flags.workers === undefined ? undefined : flags.workers === "auto" ? "auto" : Number(flags.workers);
  return {
    listeners,
    ...(flags.admin ? { admin: { address: flags.admin } } : {}),
    upstreams: { app: { targets: [...flags.upstream] } },
    routes: [{ name: "default", upstream: "app" }],
    defaults: {
      ...(flags.profile ? { headers: { profile: flags.profile } } : {}),
      ...(flags.maxBodySize ? { limits: { maxBodySize: flags.maxBodySize } } : {}),
    },
    server: {
      ...(workers === undefined ? {} : { workers }),
      ...(flags.trustedProxy ? { trustedProxies: [...flags.trustedProxy] } : {}),
    },
    ...(flags.logLevel ? { logging: { level: flags.logLevel } } : {}),
  };
}
