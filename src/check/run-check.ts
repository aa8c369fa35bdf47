/**
 * One `check url` or `check repo` run, start to report, shared by `bulwark check url|repo` and
 * the checks `bulwark check` runs from the readiness section, so both produce identical
 * reports and evidence records.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { UrlScanOptions } from "./probes/url-scan.js";
import { buildReport, type CheckReport, type CheckTarget, type RawResult } from "./report.js";
import { writeFileAtomic } from "./reports/render.js";
import type { RepoScanOptions } from "./scanners/repo-scan.js";
import type { Waiver } from "./waivers.js";

export type CheckJob =
  | { readonly type: "url"; readonly options: UrlScanOptions }
  | { readonly type: "repo"; readonly options: RepoScanOptions };

export async function runCheck(
  job: CheckJob,
  target: CheckTarget,
  waivers: readonly Waiver[],
): Promise<CheckReport> {
  const startedAt = new Date();
  let raw: RawResult;
  if (job.type === "repo") {
    const { scanRepository } = await import("./scanners/repo-scan.js");
    raw = await scanRepository(job.options);
  } else {
    const { scanUrl } = await import("./probes/url-scan.js");
    raw = await scanUrl(job.options);
  }
  return buildReport(target, raw, { startedAt, finishedAt: new Date() }, waivers);
}

/** Writes the report as an evidence record (`check-<type>-<startedAt>.json`); returns the path. */
export function writeEvidenceRecord(dir: string, report: CheckReport): string {
  const stem = join(resolve(dir), `check-${report.target.type}-${report.startedAt.replace(/[:.]/g, "-")}`);
  // Several configured targets of one type may start within the same millisecond.
  let file = `${stem}.json`;
  for (let n = 2; existsSync(file); n += 1) file = `${stem}-${n}.json`;
  writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
