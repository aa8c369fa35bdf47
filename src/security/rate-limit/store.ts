/** What a rate-limit store does: one GCRA decision per call, atomically for that key. */
import type { GcraDecision, GcraParams } from "./gcra.js";

export interface RateLimitStore {
  readonly kind: "memory" | "redis";
  /** Decides for one key. Rejects only when the store cannot decide (Redis unreachable). */
  take(key: string, params: GcraParams): GcraDecision | Promise<GcraDecision>;
  /**
   * Decides for several keys (a route's rules) at once: the same as one take() per key, in one
   * call (one Redis round trip and one script run instead of one per rule).
   */
  takeAll(keys: readonly string[], params: readonly GcraParams[]): GcraDecision[] | Promise<GcraDecision[]>;
  close(): Promise<void>;
}

/** Store events for metrics and logs; the store calls these, the gateway wires them. */
export interface StoreObserver {
  /** Every failed decision. */
  error(): void;
  /** Only on a change of state, so a Redis outage logs one line, not one per request. */
  stateChanged(up: boolean, reason?: string): void;
}
