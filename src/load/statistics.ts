/**
 * The few statistics `bulwark load compare` needs, with their textbook large-sample forms:
 *
 * - Mann-Whitney U (Wilcoxon rank-sum), one-sided, normal approximation with tie and continuity
 *   corrections (Mann & Whitney 1947; e.g. Hollander & Wolfe, "Nonparametric Statistical
 *   Methods", ch. 4). Rank-based, so it needs no assumption about the shape of the latency
 *   distribution and a single wild interval cannot decide it.
 * - Two-proportion z-test, one-sided, pooled variance (for error rates).
 * - The standard normal CDF through erfc (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
 */

/** P(Z ≤ z) for a standard normal Z. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

function erfc(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const value = poly * Math.exp(-x * x);
  return x >= 0 ? value : 2 - value;
}

export interface RankTest {
  /** U statistic of `b` (the number of (a, b) pairs with b > a, ties counting one half). */
  readonly u: number;
  readonly z: number;
  /** One-sided p-value for "b tends to be greater than a". */
  readonly p: number;
}

/**
 * One-sided Mann-Whitney U test that values in `b` tend to be greater than those in `a`.
 * Use the large-sample form only with at least ~8 values on each side (callers check).
 */
export function mannWhitneyGreater(a: readonly number[], b: readonly number[]): RankTest {
  const n1 = a.length;
  const n2 = b.length;
  const all = [
    ...a.map((value) => ({ value, fromB: false })),
    ...b.map((value) => ({ value, fromB: true })),
  ].sort((x, y) => x.value - y.value);
  const n = all.length;
  let rankSumB = 0;
  let tieTerm = 0;
  for (let start = 0; start < n; ) {
    let end = start;
    while (end + 1 < n && all[end + 1]!.value === all[start]!.value) end++;
    const rank = (start + end) / 2 + 1; // average rank of the tie group, 1-based
    const size = end - start + 1;
    tieTerm += size ** 3 - size;
    for (let index = start; index <= end; index++) if (all[index]!.fromB) rankSumB += rank;
    start = end + 1;
  }
  const u = rankSumB - (n2 * (n2 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (!(variance > 0)) return { u, z: 0, p: u > mean ? 0 : 1 };
  // Continuity correction towards the mean.
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, z, p: 1 - normalCdf(z) };
}

/** One-sided two-proportion z-test that the rate x2/n2 is greater than x1/n1. */
export function proportionGreater(x1: number, n1: number, x2: number, n2: number): { z: number; p: number } {
  if (n1 === 0 || n2 === 0) return { z: 0, p: 1 };
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const diff = x2 / n2 - x1 / n1;
  if (se === 0) return { z: 0, p: diff > 0 ? 0 : 1 };
  const z = diff / se;
  return { z, p: 1 - normalCdf(z) };
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
