/**
 * The closed model (constant VUs): each virtual user sends a request, waits for the whole
 * answer, and sends the next, until the duration ends. The offered rate follows the target's
 * speed, so latency here is service time by construction: a closed model cannot see what a
 * stall did to the users who would have arrived during it. Use --rate for that (docs/load.md).
 */
import type { ConstantVusExecutor, RampingVusExecutor } from "./plan.js";
import { valueAt } from "./stages.js";
import { type Share, shareOf } from "./worker-share.js";

/** Where a VU loop starts: the run's shared start (workers), and this worker's share of VUs. */
export interface ClosedModelOptions {
  /** performance.now() of the run's start; default now. */
  readonly start?: number;
  readonly share?: Share;
}

export async function runConstantVus(
  executor: ConstantVusExecutor,
  iterate: (startedAt: number) => Promise<void>,
  signal: AbortSignal,
  options: ClosedModelOptions = {},
): Promise<void> {
  // A worker's executor already holds its share of the VUs (worker-share.ts).
  const end = (options.start ?? performance.now()) + executor.durationMs;
  const user = async (): Promise<void> => {
    while (!signal.aborted) {
      const now = performance.now();
      if (now >= end) return;
      await iterate(now);
    }
  };
  await Promise.all(Array.from({ length: executor.vus }, user));
}

/**
 * Ramping VUs (k6 semantics): the number of active VUs follows the stages linearly. A controller
 * re-reads the target every `tickMs`; a VU whose index is above the target finishes its current
 * iteration and stops (k6's graceful ramp-down), and is started again when the target rises.
 */
export async function runRampingVus(
  executor: RampingVusExecutor,
  iterate: (startedAt: number) => Promise<void>,
  signal: AbortSignal,
  tickMs = 25,
  options: ClosedModelOptions = {},
): Promise<void> {
  const start = options.start ?? performance.now();
  const share = options.share;
  const end = start + executor.durationMs;
  let desired = 0;
  const running = new Map<number, Promise<void>>();
  const user = async (index: number): Promise<void> => {
    while (!signal.aborted && index < desired) {
      const now = performance.now();
      if (now >= end) break;
      await iterate(now);
    }
    running.delete(index);
  };
  const control = (): void => {
    const elapsed = performance.now() - start;
    // Round as k6 does: a VU starts when the interpolated count reaches it.
    const total =
      elapsed >= executor.durationMs ? 0 : Math.floor(valueAt(executor.startVus, executor.stages, elapsed));
    // In a worker, global VU v runs in worker v mod N: this worker's part of the total.
    desired = share ? shareOf(total, share) : total;
    for (let index = 0; index < desired; index++) {
      if (!running.has(index)) running.set(index, user(index));
    }
  };
  await new Promise<void>((resolve) => {
    const finish = (): void => {
      clearInterval(timer);
      signal.removeEventListener("abort", finish);
      desired = 0;
      resolve();
    };
    const timer = setInterval(() => {
      if (performance.now() >= end) finish();
      else control();
    }, tickMs);
    signal.addEventListener("abort", finish);
    if (signal.aborted) finish();
    else control();
  });
  while (running.size > 0) await Promise.all([...running.values()]);
}
