/**
 * Reads the evidence records other commands leave in the evidence folder (DESIGN.md: JSON with
 * `kind`, `version`, `startedAt`/`finishedAt`): `bulwark check` reports (kind "bulwark.check"),
 * load summaries ("load-summary") and restore drills ("drill"). The newest record of each kind
 * (and, for checks, of each target type) wins. Unreadable or foreign files become warnings.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Finding } from "../findings.js";

export interface EvidenceRecord<T = Record<string, unknown>> {
  readonly file: string;
  readonly startedAt: string;
  readonly data: T;
}

export interface CheckRecord {
  readonly kind: "bulwark.check";
  readonly target: { readonly type: "url" | "repo"; readonly value: string };
  readonly grade: string;
  readonly score: number;
  /** Full findings as `bulwark check` writes them (report.ts); foreign fields may be missing. */
  readonly findings: readonly Finding[];
  readonly strengths: readonly { id: string }[];
  readonly stats: Readonly<Record<string, number>>;
  /** True when Ctrl-C stopped the check (report.ts). */
  readonly partial?: boolean;
}

export interface LoadRecord {
  readonly kind: "load-summary";
  readonly ok: boolean;
  readonly valid: boolean;
  readonly partial: boolean;
  readonly target: { readonly url: string };
  readonly thresholds: readonly unknown[];
  readonly requests: number;
}

export interface DrillRecord {
  readonly kind: "drill";
  readonly ok: boolean;
  readonly rto: { readonly met: boolean | null; readonly measuredMs: number };
  readonly rpo: { readonly met: boolean | null; readonly measuredMs: number };
  readonly failures: readonly string[];
}

export interface Evidence {
  readonly url?: EvidenceRecord<CheckRecord>;
  readonly repo?: EvidenceRecord<CheckRecord>;
  readonly load?: EvidenceRecord<LoadRecord>;
  readonly drill?: EvidenceRecord<DrillRecord>;
  readonly warnings: string[];
  readonly files: number;
}

const MAX_EVIDENCE_BYTES = 64 * 1024 * 1024;

export function readEvidence(dir: string): Evidence {
  const warnings: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith(".json"));
  } catch (error) {
    return {
      warnings: [
        `evidence folder ${dir} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      ],
      files: 0,
    };
  }
  const newest: Record<string, EvidenceRecord> = {};
  for (const name of names) {
    const file = join(dir, name);
    let data: Record<string, unknown>;
    try {
      if (statSync(file).size > MAX_EVIDENCE_BYTES) throw new Error("larger than 64 MiB");
      data = JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      warnings.push(`evidence ${name} skipped: ${(error as Error).message.split("\n")[0]}`);
      continue;
    }
    if (typeof data !== "object" || data === null || typeof data.startedAt !== "string") {
      warnings.push(`evidence ${name} skipped: not an evidence record (no startedAt)`);
      continue;
    }
    let slot: string | undefined;
    if (data.kind === "bulwark.check") slot = (data.target as { type?: string } | undefined)?.type;
    else if (data.kind === "load-summary") slot = "load";
    else if (data.kind === "drill") slot = "drill";
    if (slot !== "url" && slot !== "repo" && slot !== "load" && slot !== "drill") continue;
    const current = newest[slot];
    if (!current || current.startedAt < data.startedAt)
      newest[slot] = { file, startedAt: data.startedAt, data };
  }
  return { ...(newest as unknown as Omit<Evidence, "warnings" | "files">), warnings, files: names.length };
}
