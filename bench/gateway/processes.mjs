// Child processes for the gateway benchmark: free loopback ports, spawning with argument arrays,
// waiting until a server answers, and cleanup that also runs on Ctrl-C and on errors.
//
// Every child is started in its own process group (detached), so stopping it also stops the
// workers it forked (nginx workers, Bulwark cluster workers). Only groups this script started
// are ever signalled, by their id.
import { execFile, spawn } from "node:child_process";
import { openSync, readdirSync, readFileSync } from "node:fs";
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
      {
        host: "127.0.0.1",
        port,
        path,
        method: "GET",
        headers: { host: `127.0.0.1:${port}`, ...headers },
        agent: false,
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
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
      throw new Error(
        `${handle.name} exited (${handle.exitCode}) before answering; see ${handle.stderrFile}`,
      );
    }
    try {
      await httpGet(port, "/", { timeoutMs: 1000 });
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(
    `${handle.name} did not answer on 127.0.0.1:${port} within ${timeoutMs} ms (${lastError?.message})`,
  );
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

// ------------------------------------------------------------------ interference from other work

// USER_HZ: 100 on every mainstream Linux build.
const CLOCK_TICKS = 100;

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces; fields follow the last ")".
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return {
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      ticks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU ticks used so far by every user process that is not part of this benchmark (this process,
 * its process group — wrk runs there — and the groups of the servers it started). Comparing two
 * snapshots tells how much other work competed for the CPUs during a measurement.
 */
export function foreignCpuSnapshot() {
  const own = readStat(process.pid);
  if (!own) return undefined;
  const groups = new Set([own.pgid, ...[...children].map((handle) => handle.pid)]);
  const perProcess = new Map();
  let entries;
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = readStat(pid);
    // Kernel threads (children of kthreadd, pid 2) carry our own loopback traffic's softirq work.
    if (!stat || pid === 2 || stat.ppid === 2 || groups.has(stat.pgid)) continue;
    perProcess.set(pid, stat.ticks);
  }
  return { at: performance.now(), perProcess };
}

/** Percent of one CPU that other processes used between two snapshots. */
export function foreignCpuPercent(before, after) {
  if (!before || !after) return null;
  let ticks = 0;
  for (const [pid, value] of after.perProcess) ticks += value - (before.perProcess.get(pid) ?? 0);
  const seconds = (after.at - before.at) / 1000;
  return seconds > 0 ? Math.round((ticks / CLOCK_TICKS / seconds) * 100) : null;
}

/** CPU ticks (user + system, all threads) used so far by every process in a process group. */
export function groupCpuTicks(pgid) {
  let ticks = 0;
  let entries;
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.pgid === pgid) ticks += stat.ticks;
  }
  return ticks;
}

/** Milliseconds of CPU between two groupCpuTicks readings. */
export function ticksToMs(before, after) {
  return before === null || after === null ? null : ((after - before) * 1000) / CLOCK_TICKS;
}
