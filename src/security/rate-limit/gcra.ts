/**
 * GCRA, the generic cell rate algorithm (ITU-T I.371; as in redis-cell and throttled). One number
 * per key, the theoretical arrival time (TAT), makes the decision exact and O(1).
 *
 * Semantics, identical in every store (the Redis script is this function in Lua):
 * - A rule allows `limit` requests per `period`, plus `burst` extra. Its emission interval is
 *   T = round(period / limit) in integer microseconds, and its capacity is C = limit + burst.
 * - A key that was never seen (or idle long enough) may send C requests at once; from then on one
 *   more request becomes allowed every T. So in any window of length w starting from a full
 *   allowance, at most C + floor(w / T) requests are admitted.
 * - A request at time `now` with stored TAT `tat` (a missing key means tat = now):
 *     tat' = max(tat, now) + T;  admitted iff tat' - now <= C * T.
 *   When admitted the store keeps tat' (expiring when it falls to `now`); when denied nothing
 *   changes, so denied requests do not push the next admission further away.
 * - remaining = floor((C * T - (tat' - now)) / T) for the admitted request (0 when denied);
 *   retry after = (tat' - C * T) - now when denied; reset (time until the full allowance is
 *   back) = stored TAT - now.
 */

export interface GcraParams {
  /** Emission interval T in microseconds (integer). */
  readonly interval: number;
  /** Capacity C = limit + burst. */
  readonly capacity: number;
}

export interface GcraDecision {
  readonly allowed: boolean;
  /** Requests still admitted right now after this one. */
  readonly remaining: number;
  /** Microseconds until a request would be admitted again; 0 when admitted. */
  readonly retryAfter: number;
  /** Microseconds until the full allowance is back. */
  readonly reset: number;
}

export function gcraParams(limit: number, periodMs: number, burst: number): GcraParams {
  return { interval: Math.max(1, Math.round((periodMs * 1000) / limit)), capacity: limit + burst };
}

/** The pure step: the TAT to store (null: keep the old one) and the decision. Times in µs. */
export function gcraStep(
  storedTat: number | undefined,
  now: number,
  params: GcraParams,
): { readonly tat: number | null; readonly decision: GcraDecision } {
  const base = storedTat === undefined || storedTat < now ? now : storedTat;
  const next = base + params.interval;
  const admitted = next - now <= params.capacity * params.interval;
  return admitted
    ? { tat: next, decision: gcraDecision(true, next - now, params) }
    : { tat: null, decision: gcraDecision(false, next - now, params) };
}

/**
 * The decision from the store's answer: whether it admitted, and `ahead` = tat' - now (the
 * candidate TAT, whether stored or not). Shared by every store so the headers agree too.
 */
export function gcraDecision(allowed: boolean, ahead: number, params: GcraParams): GcraDecision {
  const budget = params.capacity * params.interval;
  if (allowed) {
    return {
      allowed,
      remaining: Math.floor((budget - ahead) / params.interval),
      retryAfter: 0,
      reset: ahead,
    };
  }
  return { allowed, remaining: 0, retryAfter: ahead - budget, reset: ahead - params.interval };
}
