/**
 * CPU time of the calling thread, for a generator that runs in several worker threads: Node 20
 * has no per-thread cpuUsage (process.threadCpuUsage arrived in Node 23.9), and
 * process.cpuUsage() counts every thread of the process, so per-worker health reads Linux's
 * /proc/thread-self/stat (proc(5): fields 14 utime and 15 stime, in clock ticks). Synchronous
 * reads run on the calling thread, so "thread-self" is that worker.
 */
import { readFileSync } from "node:fs";

/** USER_HZ: the unit of utime/stime. 100 on every mainstream Linux architecture (proc(5)). */
const TICKS_PER_SECOND = 100;

/** This thread's user + system CPU time in microseconds; undefined where /proc is not available. */
export function threadCpuMicros(): number | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/thread-self/stat", "latin1");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) is fields[11] and stime (15) fields[12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1e6) / TICKS_PER_SECOND : undefined;
}
