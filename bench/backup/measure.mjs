// Measuring one benchmark command: wall time, and CPU time of the command, what it ran and the
// PostgreSQL backends that served it. Shared by run.mjs and jobs.mjs.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { foreignCpuPercent, foreignCpuSnapshot } from "../gateway/processes.mjs";
import { ROOT } from "./database.mjs";

const postmasterPid = () => Number(readFileSync(join(ROOT, "data", "postmaster.pid"), "utf8").split("\n")[0]);

export const CLOCK_TICKS = 100;

function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name is in parentheses and may contain spaces; fields follow the last ")".
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** CPU ticks of a process and of its reaped children (utime, stime, cutime, cstime). */
function ticksWithChildren(pid) {
  const fields = statFields(pid);
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}

/**
 * CPU ticks of the PostgreSQL server: the postmaster with the backends it has reaped, plus the
 * backends still alive (a client's backend exits a moment after the client does).
 */
function serverTicks() {
  const postmaster = postmasterPid();
  let ticks = ticksWithChildren(postmaster);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = statFields(Number(entry));
      if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile: counted in the postmaster's children's time
    }
  }
  return ticks;
}

export const cpuTicks = () => ticksWithChildren(process.pid) + serverTicks();

/**
 * Wall time and CPU time of one command: CPU of the command and everything it ran (pg_dump,
 * pg_restore, reaped into this process's children's time) plus the PostgreSQL backends that
 * served it (reaped by the postmaster). CPU time moves far less than wall time when other work
 * shares the two CPUs.
 */
export function timed(program, args, env) {
  const cpuBefore = cpuTicks();
  const foreignBefore = foreignCpuSnapshot();
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(program, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0)
        reject(new Error(`${program} ${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`));
      else {
        const wallMs = performance.now() - started;
        const cpuMs = ((cpuTicks() - cpuBefore) * 1000) / CLOCK_TICKS;
        resolvePromise({
          wallMs,
          cpuMs,
          foreignCpuPercent: foreignCpuPercent(foreignBefore, foreignCpuSnapshot()),
        });
      }
    });
  });
}

export const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
