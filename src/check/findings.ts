/**
 * The finding model shared by every probe and scanner: a stable id from the catalog, a severity,
 * what was seen (evidence, masked when it is a secret) and where (a URL or file:line).
 */
import { CATALOG, type CatalogEntry } from "./catalog.js";

export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Larger is worse; used by --fail-on and for sorting. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.length - SEVERITIES.indexOf(severity);
}

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

export interface Finding {
  readonly id: string;
  readonly severity: Severity;
  readonly title: string;
  readonly category: string;
  /** What was observed. Secrets are masked before they get here (see mask.ts). */
  readonly evidence: string;
  /** A URL, or a repository-relative `path:line` (history findings: `path:line@commit`). */
  readonly location: string;
  readonly remediation: string;
  /** The Bulwark gateway config that fixes it, when one does. */
  readonly gateway?: string;
  readonly cwe?: number;
  /** Set when a waiver for this finding has expired: the finding counts again. */
  readonly waiverExpired?: string;
}

export interface Strength {
  readonly id: string;
  readonly title: string;
  readonly points: number;
}

export interface FindingInput {
  readonly evidence: string;
  readonly location: string;
  /** Overrides the catalog's severity, e.g. an advisory's own severity. */
  readonly severity?: Severity;
  /** Overrides the catalog's title, e.g. to name the vulnerable package. */
  readonly title?: string;
}

export function catalogEntry(id: string): CatalogEntry {
  const entry = CATALOG.get(id);
  // A probe naming an id that is not in the catalog is a programming error, caught by unit tests.
  if (!entry) throw new Error(`finding id ${id} is not in the catalog`);
  return entry;
}

/** Builds a finding from its catalog entry and what was observed. */
export function finding(id: string, input: FindingInput): Finding {
  const entry = catalogEntry(id);
  return {
    id,
    severity: input.severity ?? entry.severity,
    title: input.title ?? entry.title,
    category: entry.category,
    evidence: clip(input.evidence, 300),
    location: input.location,
    remediation: entry.remediation,
    ...(entry.gateway ? { gateway: entry.gateway } : {}),
    ...(entry.cwe ? { cwe: entry.cwe } : {}),
  };
}

export function strength(id: string, points: number): Strength {
  return { id, title: catalogEntry(id).title, points };
}

function clip(text: string, max: number): string {
  const oneLine = text.replace(/[\r\n\t]+/g, " ").replace(/[\u0000-\u001f\u007f]/g, "?");
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/** Worst first, then by location and id, so reports are stable from run to run. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.id.localeCompare(b.id) ||
      a.location.localeCompare(b.location, "en", { numeric: true }),
  );
}
