/**
 * Runs the built `bulwark` command (bin/bulwark.js → dist/) as a child process, as users do.
 * The test command builds dist/ before the tests run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/bulwark.js", import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs to completion (bounded by timeoutMs, then killed). */
export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawnCli(args, options);
  return finished(child, options.timeoutMs ?? 20_000);
}

export function spawnCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ChildProcess & {
  output(): { stdout: string; stderr: string };
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? process.cwd(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return Object.assign(child, { output: () => ({ stdout, stderr }) });
}

export function finished(child: ReturnType<typeof spawnCli>, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, ...child.output() }));
    });
  });
}

/** Waits until the child's combined output matches, or fails after timeoutMs. */
export async function waitForOutput(
  child: ReturnType<typeof spawnCli>,
  pattern: RegExp,
  timeoutMs = 10_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout, stderr } = child.output();
    const match = (stdout + stderr).match(pattern);
    if (match) return match;
    if (child.exitCode !== null)
      throw new Error(`process exited (${child.exitCode}) before ${pattern}: ${stdout}${stderr}`);
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${pattern}; output so far:\n${stdout}${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
