/**
 * The closed model (constant VUs): each virtual user sends a request, waits for the whole
 * answer, and sends the next, until the duration ends. The offered rate follows the target's
 * speed, so latency here is service time by construction: a closed model cannot see what a
 * stall did to the users who would have arrived during it. Use --rate for that (docs/load.md).
 */
import type { ConstantVusExecutor } from "./plan.js";

export async function runConstantVus(
  executor: ConstantVusExecutor,
  iterate: (startedAt: number) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const end = performance.now() + executor.durationMs;
  const user = async (): Promise<void> => {
    while (!signal.aborted) {
      const now = performance.now();
      if (now >= end) return;
      await iterate(now);
    }
  };
  await Promise.all(Array.from({ length: executor.vus }, user));
}
