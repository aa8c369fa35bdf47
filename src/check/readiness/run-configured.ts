/**
 * Runs the checks a readiness section configures — every URL, then every repository, one at a
 * time (each keeps its own request budget and rate; docs/checks.md) — and returns their reports
 * as evidence records for the checklist. Command-line flags override the section's values for
 * every target of their kind. Ctrl-C stops the check in progress (its report is kept, marked
 * partial) and skips the rest.
 */
import type { CheckReport } from "../report.js";
import { runCheck, writeEvidenceRecord } from "../run-check.js";
import { loadWaivers } from "../waivers.js";
import type { CheckRecord, EvidenceRecord } from "./evidence.js";
import type { ReadinessConfig, RepoTargetConfig, UrlTargetConfig } from "./schema.js";

type UrlOverrides = Partial<
  Pick<UrlTargetConfig, "rate" | "timeout" | "ca" | "httpPort" | "probeRateLimit" | "burst">
>;
type RepoOverrides = Partial<
  Pick<
    RepoTargetConfig,
    | "advisories"
    | "npmAudit"
    | "npmRegistry"
    | "allowlist"
    | "history"
    | "historyMaxCommits"
    | "maxFileSize"
    | "includeVendor"
  >
>;

/** Values given on the command line; undefined keys keep the section's value. */
export interface ReadinessOverrides {
  readonly url?: UrlOverrides;
  readonly repo?: RepoOverrides;
  readonly failOn?: ReadinessConfig["failOn"];
  readonly waivers?: string;
  readonly evidenceDir?: string;
  readonly writeEvidence?: boolean;
  readonly maxAgeDays?: number;
  readonly strict?: boolean;
}

function defined<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(
    Object.entries(value ?? {}).filter(([, item]) => item !== undefined),
  ) as Partial<T>;
}

export function withOverrides(config: ReadinessConfig, overrides: ReadinessOverrides): ReadinessConfig {
  const { url, repo, ...top } = overrides;
  return {
    ...config,
    ...defined(top),
    urls: config.urls.map((target) => ({ ...target, ...defined(url) })),
    repos: config.repos.map((target) => ({ ...target, ...defined(repo) })),
  };
}

export interface ConfiguredRun {
  readonly records: EvidenceRecord<CheckRecord>[];
  readonly reports: CheckReport[];
  readonly warnings: string[];
  readonly partial: boolean;
}

export async function runConfiguredChecks(
  config: ReadinessConfig,
  options: {
    readonly signal?: AbortSignal;
    readonly onProgress?: ((line: string) => void) | undefined;
    /** Called after each check with a one-line summary (stderr). */
    readonly onReport?: (report: CheckReport, file: string | undefined) => void;
  } = {},
): Promise<ConfiguredRun> {
  const waivers = config.waivers ? loadWaivers(config.waivers) : [];
  const jobs = [
    ...config.urls.map((target) => ({
      target: { type: "url" as const, value: target.url },
      job: {
        type: "url" as const,
        options: {
          url: target.url,
          rate: target.rate,
          timeoutMs: target.timeout,
          ...(target.ca ? { caFile: target.ca } : {}),
          ...(target.httpPort ? { httpPort: target.httpPort } : {}),
          rateLimitBurst: target.probeRateLimit ? target.burst : 0,
          onProgress: options.onProgress,
          signal: options.signal,
        },
      },
    })),
    ...config.repos.map((target) => ({
      target: { type: "repo" as const, value: target.path },
      job: {
        type: "repo" as const,
        options: {
          root: target.path,
          ...(target.advisories ? { advisoriesDir: target.advisories } : {}),
          ...(target.npmAudit ? { npmAudit: { registry: target.npmRegistry } } : {}),
          ...(target.allowlist ? { allowListFile: target.allowlist } : {}),
          history: target.history,
          historyLimits: {
            maxCommits: target.historyMaxCommits,
            maxBytes: 256 * 1024 * 1024,
            timeoutMs: 120_000,
          },
          maxFileBytes: target.maxFileSize,
          includeVendor: target.includeVendor,
          onProgress: options.onProgress,
          signal: options.signal,
        },
      },
    })),
  ];
  const records: EvidenceRecord<CheckRecord>[] = [];
  const reports: CheckReport[] = [];
  const warnings: string[] = [];
  for (const [index, { target, job }] of jobs.entries()) {
    if (options.signal?.aborted) {
      warnings.push(
        `interrupted: ${jobs
          .slice(index)
          .map((item) => `check ${item.target.type} ${item.target.value}`)
          .join(", ")} not run`,
      );
      break;
    }
    const report = await runCheck(job, target, waivers);
    const file = config.writeEvidence ? writeEvidenceRecord(config.evidenceDir, report) : undefined;
    options.onReport?.(report, file);
    reports.push(report);
    records.push({ file: file ?? "(this run)", startedAt: report.startedAt, data: report });
  }
  return {
    records,
    reports,
    warnings,
    partial: reports.some((report) => report.partial) || warnings.length > 0,
  };
}
