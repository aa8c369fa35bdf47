/**
 * A named upstream group: its targets, each with one undici keep-alive pool, balanced round
 * robin. A target that refuses a connection is skipped for `ejectFor` (passive health); active
 * checks (health-check.ts) mark targets up or down. Both are per process.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Pool } from "undici";
import type { UpstreamConfig } from "../../config/schema.js";

export class UpstreamTarget {
  readonly url: URL;
  /** scheme://host:port, the pool key and the label in logs and metrics. */
  readonly origin: string;
  /** Path prefix of the target URL, prepended to proxied paths ("" when the URL has none). */
  readonly basePath: string;
  readonly pool: Pool;
  /** Result of the last active check: undefined until the first one finishes. */
  healthy: boolean | undefined = undefined;
  ejectedUntil = 0;

  constructor(target: string, config: UpstreamConfig) {
    this.url = new URL(target);
    this.origin = this.url.origin;
    this.basePath = this.url.pathname === "/" ? "" : this.url.pathname.replace(/\/$/, "");
    this.pool = new Pool(this.origin, {
      connections: config.connections,
      pipelining: 1,
      keepAliveTimeout: config.timeouts.keepAlive,
      keepAliveMaxTimeout: config.timeouts.keepAlive,
      headersTimeout: config.timeouts.responseHeaders,
      bodyTimeout: config.timeouts.body,
      connect: { timeout: config.timeouts.connect },
    });
  }

  /**
   * A raw connection to the target (TLS for https targets), for health checks and tunnels.
   * `ready` is the event that says the connection can carry bytes.
   */
  connect(): { socket: Socket; ready: "connect" | "secureConnect" } {
    const secure = this.url.protocol === "https:";
    const port = Number(this.url.port) || (secure ? 443 : 80);
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
    return secure
      ? {
          socket: tlsConnect({ host, port, servername: host, ALPNProtocols: ["http/1.1"] }),
          ready: "secureConnect",
        }
      : { socket: netConnect({ host, port }), ready: "connect" };
  }

  available(now: number): boolean {
    return this.healthy !== false && this.ejectedUntil <= now;
  }
}

export class UpstreamGroup {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly targets: readonly UpstreamTarget[];
  private cursor = 0;

  constructor(name: string, config: UpstreamConfig) {
    this.name = name;
    this.config = config;
    this.targets = config.targets.map((target) => new UpstreamTarget(target, config));
  }

  /** Next available target in round-robin order, or undefined when none is available. */
  pick(): UpstreamTarget | undefined {
    const count = this.targets.length;
    if (count === 1) {
      const only = this.targets[0]!;
      return only.available(Date.now()) ? only : undefined;
    }
    const now = Date.now();
    for (let tried = 0; tried < count; tried++) {
      const target = this.targets[this.cursor]!;
      this.cursor = (this.cursor + 1) % count;
      if (target.available(now)) return target;
    }
    return undefined;
  }

  eject(target: UpstreamTarget): void {
    target.ejectedUntil = Date.now() + this.config.ejectFor;
  }

  /** True when at least one target passed its last active check. */
  get reachable(): boolean {
    return this.targets.some((target) => target.healthy === true);
  }

  /** Closes the pools after their in-flight requests finish. */
  async close(): Promise<void> {
    await Promise.allSettled(this.targets.map((target) => target.pool.close()));
  }

  /** Closes the pools at once, failing in-flight requests. */
  async destroy(): Promise<void> {
    await Promise.allSettled(this.targets.map((target) => target.pool.destroy()));
  }
}
