/**
 * The check report: the machine-readable evidence record of one run (DESIGN.md: `kind`,
 * `version`, `startedAt`/`finishedAt`, then its own fields). Every output format renders this.
 */
import { VERSION } from "../version.js";
import {
  type Finding,
  SEVERITIES,
  type Severity,
  type Strength,
  severityRank,
  sortFindings,
} from "./findings.js";
import { type Grade, scoreFindings } from "./scoring.js";
import { applyWaivers, type WaivedFinding, type Waiver } from "./waivers.js";

export const REPORT_KIND = "bulwark.check";
export const REPORT_VERSION = 1;

export interface CheckTarget {
  readonly type: "url" | "repo";
  /** The URL, or the repository directory as given. */
  readonly value: string;
}

export interface CheckReport {
  readonly kind: typeof REPORT_KIND;
  readonly version: typeof REPORT_VERSION;
  readonly tool: { readonly name: "bulwark"; readonly version: string };
  readonly target: CheckTarget;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly score: number;
  readonly grade: Grade;
  readonly scoring: { readonly base: number; readonly bonus: number; readonly cappedBy?: Severity };
  readonly counts: Readonly<Record<Severity, number>>;
  readonly findings: readonly Finding[];
  readonly waived: readonly WaivedFinding[];
  readonly strengths: readonly Strength[];
  /** Things that could not be checked or were skipped, each a sentence. */
  readonly warnings: readonly string[];
  /** Probe/scanner statistics: requests sent, files scanned, … */
  readonly stats: Readonly<Record<string, number>>;
  /** True when the run was interrupted (Ctrl-C): findings are what was seen until then. */
  readonly partial: boolean;
}

export interface RawResult {
  readonly findings: readonly Finding[];
  readonly strengths: readonly Strength[];
  readonly warnings: readonly string[];
  readonly stats: Readonly<Record<string, number>>;
  readonly partial?: boolean;
}

export function buildReport(
  target: CheckTarget,
  raw: RawResult,
  times: { startedAt: Date; finishedAt: Date },
  waivers: readonly Waiver[] = [],
): CheckReport {
  const outcome = applyWaivers(raw.findings, waivers, times.finishedAt);
  const findings = sortFindings(dedupe(outcome.findings));
  const scored = scoreFindings(findings, raw.strengths);
  const counts = Object.fromEntries(SEVERITIES.map((severity) => [severity, 0])) as Record<Severity, number>;
  for (const item of findings) counts[item.severity] += 1;
  return {
    kind: REPORT_KIND,
    version: REPORT_VERSION,
    tool: { name: "bulwark", version: VERSION },
    target,
    startedAt: times.startedAt.toISOString(),
    finishedAt: times.finishedAt.toISOString(),
    score: scored.score,
    grade: scored.grade,
    scoring: {
      base: scored.base,
      bonus: scored.bonus,
      ...(scored.cappedBy ? { cappedBy: scored.cappedBy.severity } : {}),
    },
    counts,
    findings,
    waived: sortFindings(outcome.waived) as WaivedFinding[],
    strengths: raw.strengths,
    warnings: [...raw.warnings, ...outcome.warnings],
    stats: raw.stats,
    partial: raw.partial === true,
  };
}

/**
 * The same id at the same location is one finding (several rules or requests may see it). The
 * title is part of the key because `dep-vulnerable` names the advisory there: two advisories on
 * one lockfile line are two findings, while one advisory reported by both the OSV database and
 * the npm registry (same title) is one.
 */
function dedupe(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((item) => {
    const key = `${item.id}\u0000${item.location}\u0000${item.title}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** True when a finding at or above `threshold` remains after waivers. */
export function failsAt(report: CheckReport, threshold: Severity | "none"): boolean {
  if (threshold === "none") return false;
  return report.findings.some((item) => severityRank(item.severity) >= severityRank(threshold));
}
