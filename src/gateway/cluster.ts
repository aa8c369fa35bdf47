/**
 * `workers: N`: the primary process forks N workers that share the listeners (node:cluster with
 * the kernel distributing connections, SCHED_NONE, which is faster than the primary handing
 * them out). The primary owns the admin listener, signals and reloads; workers serve traffic.
 *
 * Per-process state (docs/operations.md): upstream pools, passive ejection and active health
 * results, in-flight counts. Metrics are summed across workers on /metrics; /ready is true only
 * when every worker is ready.
 */

import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry } from "prom-client";
import { AdminServer } from "../admin/admin-server.js";
import { startAuditRetention } from "../audit/retention.js";
import { loadConfigFile } from "../config/load.js";
import type { ResolvedConfig } from "../config/resolve.js";
import { watchConfigFile } from "../config/watch.js";
import { ExitCode } from "../exit-codes.js";
import { createLogger, flushLogger } from "../observability/logger.js";
import type { Revocation } from "../security/revocation/deny-list.js";
import { VERSION } from "../version.js";
import { GatewayInstance } from "./instance.js";
import type { ReadinessReport } from "./server.js";

type ToWorker =
  | { type: "bulwark:readiness"; id: number }
  | { type: "bulwark:reload"; id: number }
  | { type: "bulwark:revoke"; id: number; revocation: Revocation }
  | { type: "bulwark:revocations"; id: number }
  | { type: "bulwark:shutdown" };
type FromWorker =
  | { type: "bulwark:readiness"; id: number; report: ReadinessReport }
  | { type: "bulwark:reload"; id: number; applied: boolean; error?: string; details?: string[] }
  | { type: "bulwark:revoke"; id: number; error?: string }
  | { type: "bulwark:revocations"; id: number; revocations: Revocation[] }
  | { type: "bulwark:started" };

export interface ClusterOptions {
  readonly configFile: string | undefined;
  readonly watch: boolean;
  readonly argv: readonly string[];
}

/** Runs in the primary; resolves with the exit code once every worker has stopped. */
export async function runCluster(config: ResolvedConfig, options: ClusterOptions): Promise<number> {
  if (cluster.isWorker) return runWorker(config, options);
  const logger = createLogger({ level: config.logging.level });
  const aggregator = new AggregatorRegistry();
  const count = config.server.workerCount;
  let stopping = false;
  let nextId = 1;
  const pending = new Map<number, (message: FromWorker) => void>();

  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: process.argv[1]!, args: ["serve", ...options.argv], silent: false });
  const started = new Set<Worker>();
  const fork = () => {
    const worker = cluster.fork({ BULWARK_WORKER: "1" });
    worker.on("message", (message: FromWorker) => {
      if (message.type === "bulwark:started") started.add(worker);
      else pending.get(message.id)?.(message);
    });
    return worker;
  };
  let failedAtStart: ((code: number) => void) | undefined;
  cluster.on("exit", (worker, code, signal) => {
    const wasStarted = started.delete(worker);
    if (stopping) return;
    if (!wasStarted) {
      // A worker that never started (port in use, bad certificate) would fail again: stop.
      logger.error({ worker: worker.process.pid, code, signal }, "a worker failed to start; stopping");
      failedAtStart?.(ExitCode.Runtime);
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, "worker exited; starting a new one");
    setTimeout(fork, 1000).unref();
  });

  const ask = <T extends FromWorker>(make: (id: number) => ToWorker, timeoutMs: number): Promise<T[]> =>
    Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<T | undefined>((resolve) => {
            const id = nextId++;
            const timer = setTimeout(() => {
              pending.delete(id);
              resolve(undefined);
            }, timeoutMs);
            pending.set(id, (message) => {
              clearTimeout(timer);
              pending.delete(id);
              resolve(message as T);
            });
            worker?.send(make(id));
          }),
      ),
    ).then((answers) => answers.filter((answer): answer is Awaited<T> => answer !== undefined) as T[]);

  const readiness = async (): Promise<ReadinessReport> => {
    const answers = await ask<Extract<FromWorker, { type: "bulwark:readiness" }>>(
      (id) => ({ type: "bulwark:readiness", id }),
      1000,
    );
    const reasons = answers.flatMap((answer) => answer.report.reasons);
    if (answers.length < count) reasons.push(`${answers.length} of ${count} workers answered`);
    if (stopping) reasons.push("gateway is draining");
    return {
      ready: reasons.length === 0,
      state: stopping ? "draining" : answers.length < count ? "starting" : "ready",
      reasons: [...new Set(reasons)],
      upstreams: answers[0]?.report.upstreams ?? {},
    };
  };

  const reload = async () => {
    if (!options.configFile) return { applied: false, error: "no configuration file to reload (quick mode)" };
    try {
      loadConfigFile(options.configFile);
    } catch (error) {
      const message = (error as Error).message;
      logger.error(
        { error: message, details: (error as { details?: string[] }).details },
        "configuration reload refused",
      );
      return { applied: false, error: message, details: (error as { details?: string[] }).details ?? [] };
    }
    const answers = await ask<Extract<FromWorker, { type: "bulwark:reload" }>>(
      (id) => ({ type: "bulwark:reload", id }),
      10_000,
    );
    const refused = answers.find((answer) => !answer.applied);
    if (refused)
      return {
        applied: false,
        error: refused.error ?? "a worker refused the configuration",
        details: refused.details ?? [],
      };
    logger.info({ workers: answers.length }, "configuration reloaded");
    return { applied: true };
  };

  // Every worker holds its own deny-list view (memory store) or mirror (Redis): each is told.
  const revoke = async (revocation: Revocation) => {
    const answers = await ask<Extract<FromWorker, { type: "bulwark:revoke" }>>(
      (id) => ({ type: "bulwark:revoke", id, revocation }),
      5000,
    );
    const failed = answers.find((answer) => answer.error !== undefined);
    if (failed) throw new Error(failed.error);
    if (answers.length < count) throw new Error(`only ${answers.length} of ${count} workers confirmed`);
  };
  const revocations = async () => {
    const answers = await ask<Extract<FromWorker, { type: "bulwark:revocations" }>>(
      (id) => ({ type: "bulwark:revocations", id }),
      2000,
    );
    return answers[0]?.revocations ?? [];
  };

  const admin = config.admin.enabled
    ? new AdminServer({
        host: config.admin.host,
        port: config.admin.port,
        token: config.admin.token,
        logger,
        handlers: {
          readiness,
          metrics: async () => ({
            contentType: aggregator.contentType,
            body: await aggregator.clusterMetrics(),
          }),
          health: () => ({ version: VERSION, pid: process.pid, workers: count }),
          reload,
          revoke,
          revocations,
        },
      })
    : undefined;
  await admin?.start();
  const watch =
    options.configFile && options.watch
      ? watchConfigFile(
          options.configFile,
          () => void reload(),
          (message) => logger.warn({}, message),
        )
      : undefined;
  // Retention runs once per gateway, here, not in every worker (src/audit/retention.ts).
  const retention = config.audit && startAuditRetention(config.audit, { log: logger });
  for (let index = 0; index < count; index++) fork();
  logger.info(
    { workers: count, version: VERSION, admin: admin ? `${config.admin.host}:${admin.port}` : undefined },
    "bulwark primary started",
  );

  return new Promise((resolve) => {
    failedAtStart = (code) => {
      stopping = true;
      watch?.close();
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
      void admin?.close().then(() => {
        flushLogger(logger);
        resolve(code);
      });
    };
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
        process.exit(ExitCode.Interrupted);
      }
      stopping = true;
      watch?.close();
      void retention?.stop();
      logger.info({ signal }, "signal received; draining workers");
      for (const worker of Object.values(cluster.workers ?? {}))
        worker?.send({ type: "bulwark:shutdown" } satisfies ToWorker);
      // Workers drain within the grace period; one that has not exited well after it is killed.
      setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
      }, config.server.timeouts.shutdownGrace + 5000).unref();
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearInterval(check);
          void admin?.close().then(() => {
            logger.info({}, "stopped");
            flushLogger(logger);
            resolve(ExitCode.Ok);
          });
        }
      }, 50);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.on("SIGHUP", () => void reload());
  });
}

async function runWorker(config: ResolvedConfig, options: ClusterOptions): Promise<number> {
  const instance = new GatewayInstance({
    config: { ...config, admin: { ...config.admin, enabled: false } },
    ...(options.configFile ? { configFile: options.configFile } : {}),
    watchConfig: false,
    auditRetention: false,
  });
  // Constructing one installs prom-client's worker-side listener that answers the primary.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([instance.metrics.registry]);
  // The primary decides when to stop; Ctrl-C reaches the whole process group, so ignore it here.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => {});
  let started = false;
  let stopRequested = false;
  let resolveExit: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    resolveExit = resolve;
  });
  let stopped = false;
  const stop = () => {
    stopRequested = true;
    // A stop that arrives while starting runs once the listeners are up.
    if (stopped || !started) return;
    stopped = true;
    void instance.stop().then(() => {
      process.disconnect?.();
      resolveExit(ExitCode.Ok);
    });
  };
  // Registered before start, so a shutdown during start-up is not lost.
  process.on("message", (message: ToWorker) => {
    if (message.type === "bulwark:readiness") {
      process.send?.({
        type: "bulwark:readiness",
        id: message.id,
        report: instance.gateway.readiness(),
      } satisfies FromWorker);
    } else if (message.type === "bulwark:reload") {
      void instance.reload("primary").then((result) =>
        process.send?.({
          type: "bulwark:reload",
          id: message.id,
          applied: result.applied,
          error: result.error,
          details: [...(result.details ?? [])],
        } satisfies FromWorker),
      );
    } else if (message.type === "bulwark:revoke") {
      instance.gateway.revokeToken(message.revocation).then(
        () => process.send?.({ type: "bulwark:revoke", id: message.id } satisfies FromWorker),
        (error: Error) =>
          process.send?.({
            type: "bulwark:revoke",
            id: message.id,
            error: error.message,
          } satisfies FromWorker),
      );
    } else if (message.type === "bulwark:revocations") {
      process.send?.({
        type: "bulwark:revocations",
        id: message.id,
        revocations: instance.gateway.denyList.list(),
      } satisfies FromWorker);
    } else if (message.type === "bulwark:shutdown") {
      stop();
    }
  });
  // The primary is gone (killed): stop serving rather than run unsupervised.
  process.on("disconnect", stop);
  try {
    await instance.start();
  } catch (error) {
    // Let the process exit: the primary sees a worker that never started and stops.
    process.disconnect?.();
    throw error;
  }
  started = true;
  process.send?.({ type: "bulwark:started" } satisfies FromWorker);
  if (stopRequested) stop();
  return exited;
}
