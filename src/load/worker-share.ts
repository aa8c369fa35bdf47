/**
 * How one run is split across worker threads (docs/load.md, "Worker threads"). Every worker
 * follows the same global schedule from the same start time and takes its own slice of it, so
 * the workers together offer exactly what one process would have:
 *
 * - arrival rates (constant or ramping): the run's iterations are numbered 0, 1, 2, … on the one
 *   global schedule; worker k of N sends iterations k, k + N, k + 2N, … — its rate is R/N,
 *   phase-shifted by k/R, and a ramp stays in step because every worker reads the same stages
 *   from the same start. `connections` and `maxQueue` are split as evenly as whole numbers allow.
 * - VUs (constant or ramping): VU v runs in worker v mod N. With D VUs wanted at some moment,
 *   worker k runs ceil((D − k) / N) of them, so the total is always D.
 */
import type { Executor } from "./plan.js";

export interface Share {
  /** 0-based worker index. */
  readonly index: number;
  /** Number of workers. */
  readonly count: number;
}

/** Worker `index`'s part of `total` units (VUs, connections, queue slots) when dealt round-robin. */
export function shareOf(total: number, share: Share): number {
  return Math.max(0, Math.ceil((total - share.index) / share.count));
}

/** The executor one worker runs: its connections, queue and VUs; schedules stay global. */
export function workerExecutor(executor: Executor, share: Share): Executor {
  switch (executor.kind) {
    case "constant-arrival-rate":
    case "ramping-arrival-rate":
      return {
        ...executor,
        connections: shareOf(executor.connections, share),
        maxQueue: shareOf(executor.maxQueue, share),
      };
    case "constant-vus":
      return { ...executor, vus: shareOf(executor.vus, share) };
    case "ramping-vus":
      // The VU count is dealt at run time (closed-model.ts), from the global stages.
      return executor;
  }
}

/**
 * The most workers a plan can use: each needs at least one connection (open model) or one VU
 * (closed model; for ramping VUs the highest stage target).
 */
export function maxWorkersFor(executor: Executor): number {
  switch (executor.kind) {
    case "constant-arrival-rate":
    case "ramping-arrival-rate":
      return executor.connections;
    case "constant-vus":
      return executor.vus;
    case "ramping-vus":
      return Math.max(
        1,
        Math.ceil(Math.max(executor.startVus, ...executor.stages.map((stage) => stage.target))),
      );
  }
}
