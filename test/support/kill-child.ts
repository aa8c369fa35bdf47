/**
 * SIGKILLs a server the tests started and waits until it is gone, so its port and data
 * directory are free again (fault tests kill a server and start it on the same port).
 */
import type { ChildProcess } from "node:child_process";

export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
