/**
 * The entry point of one worker thread of a split run (workers.ts starts it; docs/load.md,
 * "Worker threads"). It drives its share of the plan with its own connections and reports to
 * the main thread on request: what it recorded since the last report (a MetricsDelta, exact
 * HDR histograms) and, once per timeline interval, its own health — event-loop utilization,
 * timer lateness and this thread's CPU time.
 *
 * Messages (all plain data):
 *   main → worker  { type: "start", at }          at: epoch ms when every worker starts
 *                  { type: "flush", id, health }  report now (health: also sample health)
 *                  { type: "stop" }               Ctrl-C or abortOnFail: stop scheduling
 *   worker → main  { type: "ready", newSpaceBytes }
 *                  { type: "report", id, report } the answer to a flush
 *                  { type: "done", report, run, endedAt }  the last report, whole-run health
 *                                                 and when its last request ended (epoch ms)
 */
import { getHeapSpaceStatistics } from "node:v8";
import { parentPort, workerData } from "node:worker_threads";
import { drive, metricsByName } from "./drive.js";
import { GeneratorHealth } from "./generator-health.js";
import { RunMetrics } from "./metrics.js";
import type { WorkerInput, WorkerReport } from "./workers.js";

const input = workerData as WorkerInput;
const port = parentPort!;
const metrics = new RunMetrics();
const byName = metricsByName(input.plan, metrics);
const abort = new AbortController();
let health: GeneratorHealth | undefined;
/** Set once "done" is sent: later flushes get empty reports without health. */
let finished = false;

/** Hands over everything recorded since the last report, and starts afresh. */
function report(withHealth: boolean): WorkerReport {
  const result: WorkerReport = {
    total: metrics.toDelta(),
    byName: [...byName]
      .filter(([, named]) => named !== metrics)
      .map(([name, named]) => {
        const delta = named.toDelta();
        named.reset();
        return [name, delta] as const;
      }),
    ...(withHealth && health && !finished ? { health: health.sample() } : {}),
  };
  metrics.reset();
  return result;
}

async function begin(at: number): Promise<void> {
  // Epoch ms → this thread's performance.now() (each thread has its own time origin).
  const start = at - performance.timeOrigin;
  const wait = start - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  health = new GeneratorHealth({ thread: true });
  const ended = await drive(input.plan, {
    metrics,
    byName,
    signal: abort.signal,
    start,
    abortGraceMs: input.abortGraceMs,
    share: input.share,
  });
  const last = report(true);
  finished = true;
  // When its last request was recorded, as epoch ms: the main thread's run ends at the latest.
  const endedAt = performance.timeOrigin + ended;
  port.postMessage({ type: "done", report: last, run: health.finish(), endedAt });
}

port.on("message", (message: { type: string; at?: number; id?: number; health?: boolean }) => {
  if (message.type === "start") void begin(message.at!);
  else if (message.type === "flush")
    port.postMessage({ type: "report", id: message.id, report: report(message.health === true) });
  else if (message.type === "stop") abort.abort();
});
// What V8 gave this thread's young generation (workers.ts fixes it): the main thread checks it.
const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
port.postMessage({ type: "ready", newSpaceBytes: newSpace?.space_size ?? 0 });
