/**
 * Starts a real gateway in-process on free loopback ports (port 0), with its JSON logs written
 * to a temp file the test can read. Config objects go through the same validation as files.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { loadConfigFile, validateConfig } from "../../src/config/load.js";
import type { ResolvedConfig } from "../../src/config/resolve.js";
import { GatewayInstance } from "../../src/gateway/instance.js";
import { createLoggers, flushLogger } from "../../src/observability/logger.js";

export interface TestGateway {
  readonly instance: GatewayInstance;
  /** Base URL of the first listener, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  /** Ports of every listener, in config order. */
  readonly ports: readonly number[];
  readonly adminUrl: string;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** Raw log text so far. */
  logText(): string;
  /** Resolves once /ready answers 200 (issuer keys loaded, upstreams healthy). */
  waitReady(timeoutMs?: number): Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

/** Starts from a config object; listeners and admin default to 127.0.0.1:0. */
export async function startGateway(
  raw: Record<string, unknown>,
  options: { env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-gw-"));
  const withDefaults = {
    listeners: [{ address: "127.0.0.1:0" }],
    ...raw,
    admin: { address: "127.0.0.1:0", ...(raw.admin as object | undefined) },
  };
  const config = validateConfig(withDefaults, {
    source: "test",
    baseDir: options.baseDir ?? dir,
    env: options.env ?? {},
  });
  return startResolved(config, dir);
}

/** Starts from a YAML file, which reloads re-read (POST /reload, and file changes when watched). */
export async function startGatewayFromFile(
  configFile: string,
  options: { watch?: boolean } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-gw-"));
  return startResolved(loadConfigFile(configFile, { env: {} }), dir, configFile, options.watch ?? false);
}

async function startResolved(
  config: ResolvedConfig,
  dir: string,
  configFile?: string,
  watchConfig = false,
): Promise<TestGateway> {
  const logFile = join(dir, "log.jsonl");
  const loggers = createLoggers({ level: config.logging.level, sync: true, destination: logFile });
  const logger = loggers.logger;
  const instance = new GatewayInstance({
    config,
    loggers,
    watchConfig,
    env: {},
    ...(configFile ? { configFile } : {}),
  });
  await instance.start();
  const addresses = instance.gateway.addresses();
  const first = addresses[0]!;
  const logText = () => {
    flushLogger(logger);
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };
  let stopped = false;
  return {
    instance,
    url: `${first.tls ? "https" : "http"}://127.0.0.1:${first.port}`,
    port: first.port,
    ports: addresses.map((address) => address.port),
    adminUrl: `http://127.0.0.1:${instance.adminPort}`,
    logText,
    logs: () =>
      logText()
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async waitReady(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const response = await request(`http://127.0.0.1:${instance.adminPort}/ready`);
        await response.body.dump();
        if (response.statusCode === 200) return;
        if (Date.now() > deadline) throw new Error("gateway did not become ready");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop(graceMs = 1000) {
      if (stopped) return;
      stopped = true;
      await instance.stop(graceMs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
