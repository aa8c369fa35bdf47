/**
 * The open model (constant arrival rate): iteration i is due at start + i/rate, whatever the
 * target is doing. This is what makes latency honest. A closed loop that waits for each answer
 * before sending the next stops sending while the target stalls, so it never records the
 * requests real users would have sent during the stall — Gil Tene's "coordinated omission".
 * wrk2 fixes it by timing each request from when it *should* have been sent; so does this file
 * (the caller records latency from `intendedAt`).
 *
 * At most `connections` requests are in flight. An iteration that comes due while all are busy
 * waits in a FIFO queue (its wait counts in its latency, as in wrk2, where requests queue on
 * their connection). When the queue already holds `maxQueue` iterations the new one is dropped:
 * never sent, counted in `dropped` (k6's dropped_iterations). When the duration ends, iterations
 * still queued are dropped too, so a run ends on time whatever the backlog.
 */
import type { RunMetrics } from "./metrics.js";
import type { ArrivalRateExecutor, RampingArrivalRateExecutor } from "./plan.js";
import { arrivalSchedule, constantSchedule } from "./stages.js";
import type { Share } from "./worker-share.js";

export function runArrivalRate(
  executor: ArrivalRateExecutor | RampingArrivalRateExecutor,
  startRequest: (intendedAt: number) => Promise<void>,
  metrics: RunMetrics,
  signal: AbortSignal,
  options: {
    /** performance.now() of the run's start (a worker's, shared with the others); default now. */
    readonly start?: number;
    /** In a worker: this worker sends global iterations index, index + count, … (worker-share.ts). */
    readonly share?: Share;
  } = {},
): Promise<void> {
  return new Promise((resolve) => {
    // dueAt(i): ms after the start when this thread's iteration i is due; Infinity when the run
    // is over.
    const global =
      executor.kind === "constant-arrival-rate"
        ? constantSchedule(executor.rate, executor.durationMs)
        : arrivalSchedule(executor.startRate, executor.stages);
    const share = options.share;
    const dueAt = share ? (i: number) => global(i * share.count + share.index) : global;
    const start = options.start ?? performance.now();
    // A ring buffer of intended times: constant memory, no allocation per iteration.
    const queue = new Float64Array(Math.max(1, executor.maxQueue));
    let head = 0;
    let queued = 0;
    let index = 0;
    let inFlight = 0;
    let scheduling = true;
    let timer: NodeJS.Timeout | undefined;

    const launch = (intendedAt: number): void => {
      inFlight++;
      void startRequest(intendedAt).then(onDone, onDone);
    };

    function onDone(): void {
      inFlight--;
      if (queued > 0 && scheduling) {
        const intendedAt = queue[head]!;
        head = (head + 1) % queue.length;
        queued--;
        launch(intendedAt);
      } else if (!scheduling && inFlight === 0) {
        resolve();
      }
    }

    const arrive = (intendedAt: number): void => {
      if (inFlight < executor.connections && queued === 0) launch(intendedAt);
      else if (queued < executor.maxQueue) {
        queue[(head + queued) % queue.length] = intendedAt;
        queued++;
      } else metrics.dropped++;
    };

    const stop = (): void => {
      if (!scheduling) return;
      scheduling = false;
      if (timer) clearTimeout(timer);
      signal.removeEventListener("abort", stop);
      metrics.dropped += queued;
      queued = 0;
      if (inFlight === 0) resolve();
    };

    const tick = (): void => {
      timer = undefined;
      const now = performance.now();
      for (;;) {
        const intendedAt = start + dueAt(index);
        if (intendedAt === Number.POSITIVE_INFINITY) {
          stop();
          return;
        }
        if (intendedAt > now) break;
        index++;
        arrive(intendedAt);
      }
      timer = setTimeout(tick, Math.max(0, start + dueAt(index) - performance.now()));
    };

    if (signal.aborted) {
      stop();
      return;
    }
    signal.addEventListener("abort", stop);
    tick();
  });
}
