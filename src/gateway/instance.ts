/**
 * One running gateway with its admin listener, logger and metrics, plus what reloads it: a
 * config file watch, SIGHUP (wired by the CLI) and POST /reload. This is what `bulwark serve`
 * and `bulwark demo` run, and what integration tests start in-process.
 */
import { AdminServer } from "../admin/admin-server.js";
import { type AuditRetention, startAuditRetention } from "../audit/retention.js";
import { loadConfigFile } from "../config/load.js";
import type { ResolvedConfig } from "../config/resolve.js";
import { type ConfigWatch, watchConfigFile } from "../config/watch.js";
import { isBulwarkError } from "../errors.js";
import { createLoggers, flushLogger, type Logger, type Loggers } from "../observability/logger.js";
import { GatewayMetrics } from "../observability/metrics.js";
import { VERSION } from "../version.js";
import { Gateway } from "./server.js";

export interface InstanceOptions {
  readonly config: ResolvedConfig;
  /** The file the config came from; reloads re-read it. Absent in quick mode. */
  readonly configFile?: string;
  /** Reload when the config file changes (default true when there is a file). */
  readonly watchConfig?: boolean;
  /** Where logs go (default: stdout, batched). */
  readonly loggers?: Loggers;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Run `audit.retention` in this process (default true). Workers of a cluster pass false: their
   * primary runs it once for all of them.
   */
  readonly auditRetention?: boolean;
}

export interface ReloadResult {
  readonly applied: boolean;
  readonly error?: string;
  readonly details?: readonly string[];
}

export class GatewayInstance {
  readonly gateway: Gateway;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  private admin: AdminServer | undefined;
  private watch: ConfigWatch | undefined;
  private retention: AuditRetention | undefined;
  private readonly startedAt = Date.now();
  private loadedAt = new Date();
  private reloading: Promise<ReloadResult> | undefined;

  constructor(private readonly options: InstanceOptions) {
    const loggers = options.loggers ?? createLoggers({ level: options.config.logging.level });
    this.logger = loggers.logger;
    this.metrics = new GatewayMetrics();
    this.gateway = new Gateway(options.config, {
      logger: loggers.logger,
      accessLogger: loggers.access,
      metrics: this.metrics,
    });
  }

  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  async start(): Promise<void> {
    const config = this.options.config;
    if (config.admin.enabled) {
      this.admin = new AdminServer({
        host: config.admin.host,
        port: config.admin.port,
        token: config.admin.token,
        logger: this.logger,
        handlers: {
          readiness: () => this.gateway.readiness(),
          metrics: async () => ({
            contentType: this.metrics.registry.contentType,
            body: await this.metrics.registry.metrics(),
          }),
          health: () => ({
            version: VERSION,
            uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
            config: { source: this.gateway.config.source, loadedAt: this.loadedAt.toISOString() },
            pid: process.pid,
          }),
          reload: () => this.reload("admin api"),
          revoke: (revocation) => this.gateway.revokeToken(revocation),
          revocations: async () => this.gateway.denyList.list(),
        },
      });
      await this.admin.start();
    }
    try {
      await this.gateway.start();
    } catch (error) {
      await this.admin?.close();
      throw error;
    }
    if (this.options.configFile && this.options.watchConfig !== false)
      this.watch = watchConfigFile(
        this.options.configFile,
        () => void this.reload("file change"),
        (message) => this.logger.warn({}, message),
      );
    if (config.audit && this.options.auditRetention !== false) {
      this.retention = startAuditRetention(config.audit, { log: this.logger });
    }
    this.logger.info(
      { version: VERSION, admin: this.admin ? `${config.admin.host}:${this.admin.port}` : undefined },
      "bulwark started",
    );
  }

  /** Re-reads the config file and swaps it in; an invalid config leaves the old one serving. */
  reload(trigger: string): Promise<ReloadResult> {
    // Reloads are serialized: a file save that fires several events reloads once at a time.
    const run = async (): Promise<ReloadResult> => {
      if (!this.options.configFile) {
        return { applied: false, error: "no configuration file to reload (quick mode)" };
      }
      try {
        const config = loadConfigFile(this.options.configFile, { env: this.options.env ?? process.env });
        this.gateway.reload(config);
        this.loadedAt = new Date();
        this.metrics.reloads.labels("applied").inc();
        this.gateway.audit?.record({ action: "config.reload", outcome: "success" });
        this.logger.info({ trigger, source: this.options.configFile }, "configuration reloaded");
        return { applied: true };
      } catch (error) {
        this.metrics.reloads.labels("refused").inc();
        this.gateway.audit?.record({
          action: "config.reload",
          outcome: "failure",
          reason: isBulwarkError(error) ? error.code : "internal",
        });
        const message = error instanceof Error ? error.message : String(error);
        const details = isBulwarkError(error) ? error.details : [];
        this.logger.error(
          { trigger, error: message, details },
          "configuration reload refused; the previous configuration keeps serving",
        );
        return { applied: false, error: message, details };
      }
    };
    const next = (this.reloading ?? Promise.resolve()).then(run, run);
    this.reloading = next;
    return next;
  }

  /** Graceful stop (see Gateway.shutdown); the admin listener closes last so /ready reports draining. */
  async stop(graceMs?: number): Promise<void> {
    this.watch?.close();
    await this.retention?.stop();
    this.logger.info({}, "draining");
    await this.gateway.shutdown(graceMs);
    await this.admin?.close();
    this.logger.info({}, "stopped");
    flushLogger(this.logger);
  }
}
