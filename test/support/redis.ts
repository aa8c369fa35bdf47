/**
 * A real redis-server (the Debian package) on a free loopback port, with a temp dir and no
 * persistence. stop() kills it; start() brings it back on the same port (to test outages).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killChild } from "./kill-child.js";
import { freePort } from "./ports.js";

const BINARY = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL); the port stays reserved for start(). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  close(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => {
        socket.write("PING\r\n");
      });
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString().startsWith("+PONG"));
      });
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startRedis(): Promise<TestRedis> {
  const probe = spawnSync(BINARY, ["--version"]);
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `redis-server not found at ${BINARY}; install it with: apt-get install -y redis-server (or set REDIS_SERVER)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "bulwark-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    const started = spawn(
      BINARY,
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    child = started;
    await waitForPort(port, 5000);
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    await killChild(running);
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start: launch,
    async close() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
