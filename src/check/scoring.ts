/**
 * The score and grade of a check run (docs/checks.md, "Scoring").
 *
 * - Start from 100 and deduct per finding by severity; the same id counts at most three times,
 *   so one noisy rule cannot drown every other signal.
 * - Bonuses (strengths such as a strict CSP) are added only when the basics are clean — no finding
 *   above low — as the Observatory adds bonuses only to an otherwise good score; the total stays
 *   at most 100.
 * - The grade follows the score, capped by the worst finding as SSL Labs caps grades: any critical
 *   finding means F, any high at most C, any medium at most B. A+ needs 100 after bonuses.
 */
import type { Finding, Severity, Strength } from "./findings.js";

export const PENALTY: Readonly<Record<Severity, number>> = {
  critical: 40,
  high: 20,
  medium: 10,
  low: 3,
  info: 0,
};
export const REPEAT_LIMIT = 3;
export const BONUS_LIMIT = 10;

export const GRADES = ["A+", "A", "B", "C", "D", "F"] as const;
export type Grade = (typeof GRADES)[number];

const THRESHOLDS: readonly [Grade, number][] = [
  ["A+", 100],
  ["A", 90],
  ["B", 80],
  ["C", 65],
  ["D", 50],
  ["F", 0],
];

const CAPS: readonly [Severity, Grade][] = [
  ["critical", "F"],
  ["high", "C"],
  ["medium", "B"],
];

export interface ScoreResult {
  readonly score: number;
  readonly grade: Grade;
  /** Score before bonuses. */
  readonly base: number;
  readonly bonus: number;
  /** Why the grade is lower than the score alone gives, if it is. */
  readonly cappedBy?: { readonly severity: Severity; readonly grade: Grade };
}

export function scoreFindings(findings: readonly Finding[], strengths: readonly Strength[]): ScoreResult {
  const perId = new Map<string, number>();
  let penalty = 0;
  for (const item of findings) {
    const seen = perId.get(item.id) ?? 0;
    perId.set(item.id, seen + 1);
    if (seen < REPEAT_LIMIT) penalty += PENALTY[item.severity];
  }
  const base = Math.max(0, 100 - penalty);
  const clean = !findings.some((item) => PENALTY[item.severity] > PENALTY.low);
  const bonus = clean
    ? Math.min(
        BONUS_LIMIT,
        strengths.reduce((sum, item) => sum + item.points, 0),
      )
    : 0;
  const score = Math.min(100, base + bonus);
  let grade = gradeFor(score);
  let cappedBy: ScoreResult["cappedBy"];
  for (const [severity, cap] of CAPS) {
    if (findings.some((item) => item.severity === severity)) {
      if (GRADES.indexOf(grade) < GRADES.indexOf(cap)) {
        grade = cap;
        cappedBy = { severity, grade: cap };
      }
      break;
    }
  }
  return { score, grade, base, bonus, ...(cappedBy ? { cappedBy } : {}) };
}

/** The grade a score (or the readiness percentage) earns before caps. */
export function gradeFor(score: number): Grade {
  for (const [grade, floor] of THRESHOLDS) if (score >= floor) return grade;
  return "F";
}
