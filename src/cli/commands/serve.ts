/**
 * `bulwark serve`: run the gateway from bulwark.yaml, or in quick mode from flags. Signals:
 * SIGTERM/SIGINT drain and exit 0 (a second one exits at once), SIGHUP reloads.
 */
import { loadConfigFile, validateConfig } from "../../config/load.js";
import { quickModeConfig } from "../../config/quick-mode.js";
import type { ResolvedConfig } from "../../config/resolve.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { runCluster } from "../../gateway/cluster.js";
import { GatewayInstance } from "../../gateway/instance.js";
import { type Command, parseFlags } from "../command.js";

const HELP = `usage: bulwark serve -c FILE
       bulwark serve --upstream URL [--listen HOST:PORT] [--admin HOST:PORT]
                     [--tls-cert FILE --tls-key FILE] [--redirect-from HOST:PORT]

Runs the hardening gateway in front of an HTTP service.

With -c, everything comes from the config file (see docs/configuration.md); the file is watched
and reloaded when it changes, on SIGHUP, and on \`bulwark reload\`. Without -c, quick mode applies
the default hardened profile to one upstream.

options:
  -c, --config FILE        config file (bulwark.yaml)
      --no-watch           do not reload when the config file changes
quick mode:
      --upstream URL       upstream target; repeat for several (round robin)
      --listen HOST:PORT   traffic address (default 127.0.0.1:8080, or 127.0.0.1:8443 with TLS)
      --admin HOST:PORT    admin address for /metrics, /live, /ready, /health (default 127.0.0.1:9901)
      --tls-cert FILE      PEM certificate chain; with --tls-key serves HTTPS (HTTP/2 and HTTP/1.1)
      --tls-key FILE       PEM private key
      --redirect-from HOST:PORT  also listen here and redirect to HTTPS with 308
      --profile NAME       security headers: strict (default), api, webapp, off
      --max-body-size SIZE largest request body (default 1mb)
      --trusted-proxy CIDR trust X-Forwarded-* from this proxy; repeatable
      --allow-plaintext    allow plaintext on a non-loopback --listen address
      --workers N|auto     worker processes (default 1)
      --log-level LEVEL    trace, debug, info (default), warn, error, silent

signals: SIGTERM/SIGINT drain in-flight requests (grace period, default 30s) then exit 0; a second
signal exits at once (130). SIGHUP reloads the config file.
exit codes: 0 stopped cleanly, 2 invalid config or usage, 3 could not start (e.g. port in use).`;

const FLAGS = {
  config: { type: "string", short: "c" },
  "no-watch": { type: "boolean" },
  upstream: { type: "string", multiple: true },
  listen: { type: "string" },
  admin: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "redirect-from": { type: "string" },
  profile: { type: "string" },
  "max-body-size": { type: "string" },
  "trusted-proxy": { type: "string", multiple: true },
  "allow-plaintext": { type: "boolean" },
  workers: { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export function configFromServeFlags(argv: readonly string[]): {
  config: ResolvedConfig;
  file?: string;
  watch: boolean;
} {
  const { values } = parseFlags("serve", argv, FLAGS);
  const quickFlags = [
    "upstream",
    "listen",
    "admin",
    "tls-cert",
    "tls-key",
    "redirect-from",
    "profile",
    "max-body-size",
    "trusted-proxy",
    "allow-plaintext",
    "workers",
    "log-level",
  ] as const;
  if (values.config) {
    const mixed = quickFlags.filter((flag) => values[flag] !== undefined);
    if (mixed.length > 0) {
      throw new BulwarkError(
        "usage",
        `--${mixed[0]} is a quick-mode flag and cannot be combined with -c; put it in the config file`,
      );
    }
    return { config: loadConfigFile(values.config), file: values.config, watch: !values["no-watch"] };
  }
  if (!values.upstream || values.upstream.length === 0) {
    throw new BulwarkError("usage", "give -c FILE or --upstream URL; see `bulwark serve --help`");
  }
  const raw = quickModeConfig({
    upstream: values.upstream,
    listen: values.listen,
    admin: values.admin,
    tlsCert: values["tls-cert"],
    tlsKey: values["tls-key"],
    redirectFrom: values["redirect-from"],
    profile: values.profile,
    maxBodySize: values["max-body-size"],
    trustedProxy: values["trusted-proxy"],
    allowPlaintext: values["allow-plaintext"],
    workers: values.workers,
    logLevel: values["log-level"],
  });
  return { config: validateConfig(raw, { source: "command line", baseDir: process.cwd() }), watch: false };
}

/** Wires signals to a running instance; resolves with the exit code when it has stopped. */
export function runUntilSignalled(instance: GatewayInstance): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        instance.logger.warn({ signal }, "second signal; exiting at once");
        process.exit(ExitCode.Interrupted);
      }
      stopping = true;
      instance.logger.info({ signal }, "signal received; draining");
      void instance.stop().then(() => {
        process.off("SIGHUP", hup);
        resolve(ExitCode.Ok);
      });
    };
    const hup = () => void instance.reload("SIGHUP");
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.on("SIGHUP", hup);
  });
}

export const serveCommand: Command = {
  name: "serve",
  help: HELP,
  async run(argv) {
    const { config, file, watch } = configFromServeFlags(argv);
    if (config.server.workerCount > 1) return runCluster(config, { configFile: file, watch, argv });
    const instance = new GatewayInstance({
      config,
      ...(file ? { configFile: file } : {}),
      watchConfig: watch,
    });
    await instance.start();
    return runUntilSignalled(instance);
  },
};
