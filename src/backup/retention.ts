/**
 * Which backups to keep: the union of keep-last N, every backup younger than max age, and the
 * newest backup of each of the last N days, ISO weeks and months that have backups (the
 * generations of restic's `forget --keep-*` and Borg's `prune`, in UTC). The newest verified
 * backup is always kept, whatever the rules say. Pure: the caller deletes.
 */

export interface RetentionPolicy {
  readonly keepLast?: number | undefined;
  readonly keepDaily?: number | undefined;
  readonly keepWeekly?: number | undefined;
  readonly keepMonthly?: number | undefined;
  readonly maxAgeMs?: number | undefined;
}

export interface RetentionCandidate {
  readonly id: string;
  /** When the backup's snapshot was taken. */
  readonly time: Date;
}

export interface RetentionDecision {
  readonly keep: readonly { readonly id: string; readonly reasons: readonly string[] }[];
  readonly remove: readonly string[];
}

export function hasRules(policy: RetentionPolicy): boolean {
  return [policy.keepLast, policy.keepDaily, policy.keepWeekly, policy.keepMonthly, policy.maxAgeMs].some(
    (value) => value !== undefined,
  );
}

function day(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** ISO 8601 week, "2026-W48" (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(time: Date): string {
  const date = new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), time.getUTCDate()));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

function month(time: Date): string {
  return time.toISOString().slice(0, 7);
}

export function decideRetention(
  candidates: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  options: { now: Date; protectedId?: string | undefined },
): RetentionDecision {
  const newestFirst = [...candidates].sort(
    (a, b) => b.time.getTime() - a.time.getTime() || b.id.localeCompare(a.id),
  );
  const reasons = new Map<string, string[]>(newestFirst.map((candidate) => [candidate.id, []]));
  const add = (id: string, reason: string) => reasons.get(id)!.push(reason);

  for (const [index, candidate] of newestFirst.slice(0, policy.keepLast ?? 0).entries()) {
    add(candidate.id, `last ${index + 1}`);
  }
  if (policy.maxAgeMs !== undefined) {
    for (const candidate of newestFirst) {
      if (options.now.getTime() - candidate.time.getTime() <= policy.maxAgeMs)
        add(candidate.id, "within max age");
    }
  }
  const generation = (limit: number | undefined, bucket: (time: Date) => string, label: string) => {
    if (!limit) return;
    const seen = new Set<string>();
    for (const candidate of newestFirst) {
      const key = bucket(candidate.time);
      if (seen.has(key)) continue;
      if (seen.size >= limit) break;
      seen.add(key);
      add(candidate.id, `${label} ${key}`);
    }
  };
  generation(policy.keepDaily, day, "daily");
  generation(policy.keepWeekly, isoWeek, "weekly");
  generation(policy.keepMonthly, month, "monthly");
  if (options.protectedId && reasons.has(options.protectedId)) add(options.protectedId, "newest verified");

  return {
    keep: newestFirst
      .filter((c) => reasons.get(c.id)!.length > 0)
      .map((c) => ({ id: c.id, reasons: reasons.get(c.id)! })),
    remove: newestFirst.filter((c) => reasons.get(c.id)!.length === 0).map((c) => c.id),
  };
}
