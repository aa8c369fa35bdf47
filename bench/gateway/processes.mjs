// Child processes for the gateway benchmark: free loopback ports, spawning with argument arrays,
// waiting until a server answers, and cleanup that also runs on Ctrl-C and on errors.
//
// Every child is started in its own process group (detached), so stopping it also stops the
// workers it forked (nginx workers, Bulwark cluster workers). Only groups this script started
// are ever signalled, by their id.
import { execFile, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";

const children = new Set();
// Short-lived commands (wrk, version probes): killed directly on cleanup.
const commands = new Set();

/** A port that was free on 127.0.0.1 a moment ago (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a long-running server. stdout/stderr go to files (access logs, error output) so that
 * a full pipe never blocks the child and nothing floods the terminal.
 */
export function startProcess(name, command, args, { stdoutFile, stderrFile, env, cwd } = {}) {
  const stdout = stdoutFile ? openSync(stdoutFile, "a") : "ignore";
  const stderr = stderrFile ? openSync(stderrFile, "a") : "ignore";
  const child = spawn(command, args, {
    cwd,
    env: env ?? process.env,
    stdio: ["ignore", stdout, stderr],
    detached: true,
  });
  const handle = { name, child, pid: child.pid, exited: false, exitCode: null, stderrFile };
  handle.exit = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      handle.exited = true;
      handle.exitCode = code ?? signal;
      children.delete(handle);
      resolve(handle.exitCode);
    });
    child.once("error", (error) => {
      handle.exited = true;
      handle.exitCode = error.message;
      children.delete(handle);
      resolve(error.message);
    });
  });
  children.add(handle);
  return handle;
}

function signalGroup(handle, signal) {
  if (handle.exited || handle.pid === undefined) return;
  try {
    process.kill(-handle.pid, signal);
  } catch {
    try {
      process.kill(handle.pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, then SIGKILL after graceMs. Resolves when the process has exited. */
export async function stopProcess(handle, graceMs = 5000) {
  if (handle.exited) return;
  signalGroup(handle, "SIGTERM");
  const timer = setTimeout(() => signalGroup(handle, "SIGKILL"), graceMs);
  await handle.exit;
  clearTimeout(timer);
  // Workers of a master that was killed hard could outlive it; the group signal reaches them.
  signalGroup(handle, "SIGKILL");
}

export async function stopAll(graceMs = 3000) {
  for (const child of commands) child.kill("SIGKILL");
  await Promise.all([...children].map((handle) => stopProcess(handle, graceMs)));
}

/** Synchronous last resort for process "exit": no awaiting possible there. */
export function killAllNow() {
  for (const handle of children) signalGroup(handle, "SIGKILL");
  for (const child of commands) child.kill("SIGKILL");
}

/** One GET on loopback; resolves { status, headers, body } or rejects. */
export function httpGet(port, path = "/", { timeoutMs = 2000, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method: "GET", headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls until GET / answers (any status) or the process exits or time runs out. */
export async function waitUntilAnswering(handle, port, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (handle.exited) {
      throw new Error(`${handle.name} exited (${handle.exitCode}) before answering; see ${handle.stderrFile}`);
    }
    try {
      await httpGet(port, "/", { timeoutMs: 1000 });
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${handle.name} did not answer on 127.0.0.1:${port} within ${timeoutMs} ms (${lastError?.message})`);
}

/** Runs a command to completion with an argument array (no shell); bounded in time. */
export function run(command, args, { timeoutMs = 60000, env, maxBuffer = 16 * 1024 * 1024 } = {}) {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { timeout: timeoutMs, killSignal: "SIGKILL", env, maxBuffer },
      (error, stdout, stderr) => {
        commands.delete(child);
        resolve({
          ok: !error,
          code: error ? (error.code ?? error.signal) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
    commands.add(child);
  });
}
