/**
 * `bulwark config check|schema|explain`: validate a file without starting, print the JSON Schema
 * for editors, and show each route's effective policy after defaults (secrets masked).
 */
import { stringify } from "yaml";
import { loadConfigFile } from "../../config/load.js";
import type { ResolvedConfig } from "../../config/resolve.js";
import { configJsonSchema } from "../../config/schema.js";
import { formatDuration, formatSize } from "../../config/units.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { effectiveHeaderList } from "../../gateway/header-profiles.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark config check -c FILE
       bulwark config schema
       bulwark config explain -c FILE

  check    validate FILE (schema and fail-closed rules) without starting; every problem is listed
           with file:line:column. Exit 0 when valid, 2 when not.
  schema   print the JSON Schema of bulwark.yaml (for editor completion: yaml-language-server)
  explain  print each route's effective policy after defaults: match, upstream targets, rewrite,
           headers added, CORS, limits and timeouts. Values from \${env:} / \${file:} are masked.`;

const MASK = "<secret>";

export function explainConfig(config: ResolvedConfig): string {
  const masked = (path: string, value: unknown) => (config.secretPaths.has(path) ? MASK : value);
  const doc = {
    source: config.source,
    listeners: config.listeners.map((listener, index) => ({
      name: listener.name,
      address: listener.address,
      ...(listener.tls
        ? {
            tls: {
              cert: masked(`listeners[${index}].tls.cert`, listener.tls.cert),
              minVersion: listener.tls.minVersion,
              http2: listener.tls.http2,
            },
          }
        : {}),
      ...(listener.redirectToHttps ? { redirectToHttps: true } : {}),
    })),
    admin: config.admin.enabled
      ? {
          address: config.admin.address,
          token: config.admin.token === undefined ? "none (loopback only)" : MASK,
        }
      : "disabled",
    routes: config.routes.map((route) => {
      const upstream = config.upstreams[route.upstream]!;
      return {
        name: route.name,
        match: { host: route.hosts ?? "any", pathPrefix: route.pathPrefix },
        upstream: {
          name: route.upstream,
          targets: upstream.targets.map((target, index) =>
            masked(`upstreams.${route.upstream}.targets[${index}]`, target),
          ),
          timeouts: Object.fromEntries(
            Object.entries(upstream.timeouts).map(([key, ms]) => [key, formatDuration(ms)]),
          ),
          hostHeader: upstream.hostHeader,
        },
        ...(route.rewritePrefix === null
          ? {}
          : { rewritePrefix: `${route.pathPrefix} -> ${route.rewritePrefix}` }),
        headers: {
          profile: route.headers.profile,
          stripBanners: route.headers.stripBanners,
          set: effectiveHeaderList(route.headers),
        },
        cors: route.cors
          ? { ...route.cors, maxAge: formatDuration(route.cors.maxAge) }
          : "off (no CORS headers; cross-origin reads are refused by browsers)",
        limits: { maxBodySize: formatSize(route.limits.maxBodySize) },
      };
    }),
    server: {
      workers: config.server.workerCount,
      trustedProxies: config.server.trustedProxies,
      timeouts: Object.fromEntries(
        Object.entries(config.server.timeouts).map(([key, ms]) => [key, formatDuration(ms)]),
      ),
      limits: {
        maxHeaderSize: formatSize(config.server.limits.maxHeaderSize),
        maxUrlLength: formatSize(config.server.limits.maxUrlLength),
      },
    },
  };
  return stringify(doc, { lineWidth: 0 });
}

export const configCommand: Command = {
  name: "config",
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === "schema") {
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      return ExitCode.Ok;
    }
    if (sub !== "check" && sub !== "explain") {
      throw new BulwarkError(
        "usage",
        `unknown config subcommand ${JSON.stringify(sub ?? "")}; use check, schema or explain`,
      );
    }
    const { values } = parseFlags(`config ${sub}`, rest, { config: { type: "string", short: "c" } });
    if (!values.config) throw new BulwarkError("usage", `bulwark config ${sub} needs -c FILE`);
    const config = loadConfigFile(values.config);
    if (sub === "check") {
      say(
        `${values.config}: valid (${config.listeners.length} listener${config.listeners.length === 1 ? "" : "s"}, ` +
          `${Object.keys(config.upstreams).length} upstream${Object.keys(config.upstreams).length === 1 ? "" : "s"}, ` +
          `${config.routes.length} route${config.routes.length === 1 ? "" : "s"})`,
      );
    } else {
      process.stdout.write(explainConfig(config));
    }
    return ExitCode.Ok;
  },
};
