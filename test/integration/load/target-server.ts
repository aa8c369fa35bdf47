/**
 * Load-test targets with controlled latency, on a free loopback port:
 *   /delay/MS     answers "ok" after MS milliseconds
 *   /stall/N/MS   answers at once, except the Nth request to this path, which waits MS first
 *   /status/NNN   answers with that status
 *   anything else answers "ok" at once
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";

export interface TargetServer {
  readonly url: string;
  /** Requests received so far. */
  count(): number;
  /** Requests received per path (with query), since the start or the last clearPaths(). */
  readonly paths: Map<string, number>;
  /** Most requests in progress at once so far (VU counts show here); resets it to the current. */
  takeMaxInFlight(): number;
  close(): Promise<void>;
}

export async function startTarget(): Promise<TargetServer> {
  let received = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const paths = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    received++;
    paths.set(req.url ?? "/", (paths.get(req.url ?? "/") ?? 0) + 1);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => inFlight--);
    const path = (req.url ?? "/").split("?")[0]!;
    req.resume();
    const answer = (delay: number, status = 200) => {
      res.statusCode = status;
      if (delay <= 0) return void res.end("ok");
      const timer = setTimeout(() => res.end("ok"), delay);
      res.on("close", () => clearTimeout(timer));
    };
    const parts = path.split("/");
    if (parts[1] === "delay") answer(Number(parts[2]));
    // Counted per path (with query), so tests of one file sharing the target do not shift each other's stall.
    else if (parts[1] === "stall")
      answer(paths.get(req.url ?? "/") === Number(parts[2]) ? Number(parts[3]) : 0);
    else if (parts[1] === "status") answer(0, Number(parts[2]));
    else answer(0);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => received,
    paths,
    takeMaxInFlight: () => {
      const most = maxInFlight;
      maxInFlight = inFlight;
      return most;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening: bind port 0, note the port, close it. */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/`;
}

/**
 * Starts a target and makes a temporary directory before the file's tests, and removes both
 * after them; `use` receives them once they exist.
 */
export function withTargetAndTempDir(prefix: string, use: (target: TargetServer, dir: string) => void): void {
  let target: TargetServer | undefined;
  let dir: string | undefined;
  before(async () => {
    target = await startTarget();
    dir = mkdtempSync(join(tmpdir(), prefix));
    use(target, dir);
  });
  after(async () => {
    await target?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}
