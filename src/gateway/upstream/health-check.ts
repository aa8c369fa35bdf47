/**
 * Active health checks: every `interval`, each target gets a TCP (or TLS) connect, or an HTTP GET
 * of `healthCheck.path` where one is set (2xx/3xx is healthy). Results feed target selection and
 * /ready. State changes are reported once each, not on every check.
 */
import type { UpstreamGroup, UpstreamTarget } from "./group.js";

export type HealthChange = (
  group: UpstreamGroup,
  target: UpstreamTarget,
  healthy: boolean,
  reason: string,
) => void;

function tcpCheck(target: UpstreamTarget, timeout: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const { socket, ready } = target.connect();
    const done = (reason: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done("connect timed out"), timeout);
    socket.once(ready, () => done(undefined));
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

async function httpCheck(target: UpstreamTarget, path: string, timeout: number): Promise<string | undefined> {
  try {
    const response = await target.pool.request({
      path: target.basePath + path,
      method: "GET",
      headers: { "user-agent": "bulwark-health-check" },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal: AbortSignal.timeout(timeout),
    });
    await response.body.dump();
    return response.statusCode < 400 ? undefined : `status ${response.statusCode}`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code ?? (error as Error).name;
  }
}

export class HealthChecker {
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(
    private readonly groups: readonly UpstreamGroup[],
    private readonly onChange: HealthChange,
  ) {}

  /** Runs a first round at once and resolves when it is done, then keeps checking. */
  async start(): Promise<void> {
    await Promise.all(
      this.groups.flatMap((group) => group.targets.map((target) => this.check(group, target))),
    );
    for (const group of this.groups) {
      for (const target of group.targets) {
        const timer = setInterval(() => void this.check(group, target), group.config.healthCheck.interval);
        timer.unref();
        this.timers.push(timer);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
  }

  private async check(group: UpstreamGroup, target: UpstreamTarget): Promise<void> {
    const { path, timeout } = group.config.healthCheck;
    const failure =
      path === undefined ? await tcpCheck(target, timeout) : await httpCheck(target, path, timeout);
    if (this.stopped) return;
    const healthy = failure === undefined;
    if (target.healthy !== healthy) {
      target.healthy = healthy;
      this.onChange(group, target, healthy, failure ?? "ok");
    }
  }
}
