/**
 * `bulwark check repo DIR`: walks the tree once and runs every file-level rule on each file
 * (secrets, config smells, Dockerfile, compose, lockfiles), then matches locked packages against
 * the offline advisory database and, with --history, scans git history for secrets.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { BulwarkError } from "../../errors.js";
import { type Finding, finding } from "../findings.js";
import type { RawResult } from "../report.js";
import { loadAdvisories } from "./advisories.js";
import { loadAllowList } from "./allow-list.js";
import { isComposeFile, scanCompose } from "./compose.js";
import { contentSmells, fileNameSmells } from "./config-smells.js";
import { isDockerfile, scanDockerfile } from "./dockerfile.js";
import { DEFAULT_HISTORY_LIMITS, type HistoryLimits, scanHistory } from "./git-history.js";
import { type LockedPackage, LockfileError, lockfileReader } from "./lockfiles/lockfiles.js";
import { type NpmAuditResult, npmBulkAdvisories } from "./npm-advisories.js";
import { scanSecrets } from "./secrets.js";
import { isTestPath, secretSeverityForPath } from "./test-code.js";
import { walkRepository } from "./walk.js";

export interface RepoScanOptions {
  readonly root: string;
  readonly advisoriesDir?: string;
  /** Also ask the npm registry's bulk advisory endpoint about npm packages (opt-in: it sends them). */
  readonly npmAudit?: { readonly registry: string; readonly timeoutMs?: number };
  readonly allowListFile?: string;
  readonly history?: boolean;
  readonly historyLimits?: HistoryLimits;
  /** Files larger than this are not read (lockfiles: 16 times this). Default 8 MiB. */
  readonly maxFileBytes?: number;
  /** Also scan node_modules, vendor, dist and other dependency/build folders. */
  readonly includeVendor?: boolean;
  /** Called every few hundred files with a one-line status. */
  readonly onProgress?: ((line: string) => void) | undefined;
  /** Aborting stops the scan; the result has what was found so far and is marked partial. */
  readonly signal?: AbortSignal | undefined;
}

const BINARY_SNIFF_BYTES = 8000;

/** Paths git tracks, or undefined when the directory is not a git work tree (or git is missing). */
function trackedFiles(root: string): Set<string> | undefined {
  if (!existsSync(resolve(root, ".git"))) return undefined;
  const result = spawnSync("git", ["-C", root, "ls-files", "-z"], {
    maxBuffer: 256 * 1024 * 1024,
    timeout: 30_000,
  });
  if (result.status !== 0) return undefined;
  return new Set(result.stdout.toString("utf8").split("\0").filter(Boolean));
}

export async function scanRepository(options: RepoScanOptions): Promise<RawResult> {
  const root = resolve(options.root);
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(root);
  } catch {
    throw new BulwarkError("check_target_invalid", `repository directory ${options.root} does not exist`);
  }
  if (!stat.isDirectory())
    throw new BulwarkError("check_target_invalid", `${options.root} is not a directory`);
  const allow = loadAllowList(root, options.allowListFile);
  const advisories = options.advisoriesDir ? loadAdvisories(options.advisoriesDir) : undefined;
  const maxFileBytes = options.maxFileBytes ?? 8 * 1024 * 1024;
  const tracked = trackedFiles(root);
  const walked = walkRepository(root, options.includeVendor ? { skipDirs: [".git"] } : {});
  const findings: Finding[] = [];
  const warnings = [...walked.warnings, ...(advisories?.warnings ?? [])];
  const allowed = (path: string) => allow.paths.some((pattern) => pattern.test(path));
  const large: string[] = [];
  const packages: { pkg: LockedPackage; path: string }[] = [];
  let bytes = 0;
  let binary = 0;
  let scanned = 0;
  let lockfiles = 0;
  let partial = false;
  for (const [index, file] of walked.files.entries()) {
    if (options.signal?.aborted) {
      partial = true;
      warnings.push(`interrupted after ${index} of ${walked.files.length} files; the rest were not scanned`);
      break;
    }
    if (index % 250 === 0) options.onProgress?.(`check repo: ${index}/${walked.files.length} files`);
    if (allowed(file.path)) continue;
    if (tracked === undefined || tracked.has(file.path)) findings.push(...fileNameSmells(file.path));
    const reader = lockfileReader(file.path);
    if (file.size > (reader ? maxFileBytes * 16 : maxFileBytes)) {
      large.push(`${file.path} (${Math.round(file.size / 1024 / 1024)} MiB)`);
      continue;
    }
    let buffer: Buffer;
    try {
      buffer = readFileSync(file.absolute);
    } catch (error) {
      warnings.push(
        `cannot read ${file.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      continue;
    }
    bytes += buffer.length;
    if (buffer.subarray(0, BINARY_SNIFF_BYTES).includes(0)) {
      binary += 1;
      continue;
    }
    scanned += 1;
    const text = buffer.toString("utf8");
    const testCode = isTestPath(file.path);
    for (const hit of scanSecrets(text, file.path, allow))
      findings.push(secretSeverityForPath(hit.finding, file.path));
    // Tests legitimately switch TLS verification off against their own self-signed servers.
    if (!testCode) findings.push(...contentSmells(text, file.path));
    if (isDockerfile(file.path)) {
      const result = scanDockerfile(text, file.path);
      findings.push(...result.findings);
      warnings.push(...result.warnings);
    }
    if (isComposeFile(file.path)) {
      const result = scanCompose(text, file.path);
      findings.push(...result.findings);
      warnings.push(...result.warnings);
    }
    if (reader) {
      lockfiles += 1;
      try {
        for (const pkg of reader.read(text)) packages.push({ pkg, path: file.path });
      } catch (error) {
        const message =
          error instanceof LockfileError ? error.message : `unexpected content (${(error as Error).message})`;
        warnings.push(`${file.path}: malformed lockfile, dependencies not checked: ${message}`);
      }
    }
  }
  if (large.length > 0)
    warnings.push(
      `${large.length} file(s) larger than ${Math.round(maxFileBytes / 1024 / 1024)} MiB not scanned: ${large.slice(0, 5).join(", ")}${large.length > 5 ? ", …" : ""}`,
    );
  if (advisories) {
    for (const { pkg, path } of packages) {
      for (const match of advisories.match(pkg)) {
        const aliases = (match.advisory.aliases ?? []).filter((alias) => alias !== match.advisory.id);
        const fixed =
          match.fixed.length > 0
            ? `; fixed in ${[...new Set(match.fixed)].join(", ")}`
            : "; no fixed version";
        findings.push(
          finding("dep-vulnerable", {
            severity: match.severity,
            title: `${pkg.name}@${pkg.version}: ${match.advisory.summary ?? match.advisory.id}`,
            evidence: `${pkg.ecosystem} ${pkg.name} ${pkg.version} — ${[match.advisory.id, ...aliases].join(" / ")}${fixed}`,
            location: `${path}:${pkg.line}`,
          }),
        );
      }
    }
  }
  let npmAudit: NpmAuditResult | undefined;
  if (options.npmAudit && !partial) {
    options.onProgress?.("check repo: npm registry advisories");
    npmAudit = await npmBulkAdvisories(
      packages.map((entry) => entry.pkg),
      { ...options.npmAudit, signal: options.signal },
    );
    warnings.push(...npmAudit.warnings);
    const where = new Map(packages.map((entry) => [entry.pkg, entry.path]));
    for (const { pkg, advisory, severity } of npmAudit.matches) {
      const ghsa = /GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}/.exec(advisory.url ?? "")?.[0];
      findings.push(
        finding("dep-vulnerable", {
          severity,
          title: `${pkg.name}@${pkg.version}: ${advisory.title ?? ghsa ?? `npm advisory ${advisory.id}`}`,
          evidence: `npm ${pkg.name} ${pkg.version} — ${ghsa ?? `npm advisory ${advisory.id}`}; vulnerable ${advisory.vulnerable_versions ?? "*"} (npm registry advisory${advisory.url ? ` ${advisory.url}` : ""})`,
          location: `${where.get(pkg)}:${pkg.line}`,
        }),
      );
    }
  }
  if (!advisories && !npmAudit && lockfiles > 0) {
    warnings.push(
      `${lockfiles} lockfile(s) found but neither --advisories DIR nor --npm-audit given: dependencies were not checked for known vulnerabilities`,
    );
  }
  let commits = 0;
  if (options.history && !partial) {
    options.onProgress?.("check repo: git history");
    const result = await scanHistory(
      root,
      allow,
      options.historyLimits ?? DEFAULT_HISTORY_LIMITS,
      allowed,
      options.signal,
    );
    if (options.signal?.aborted) partial = true;
    findings.push(...result.findings);
    warnings.push(...result.warnings);
    commits = result.commits;
  }
  return {
    findings,
    strengths: [],
    warnings,
    stats: {
      files: walked.files.length,
      scannedFiles: scanned,
      binaryFiles: binary,
      bytes,
      lockfiles,
      packages: packages.length,
      ...(advisories ? { advisories: advisories.count } : {}),
      // Only when the registry answered: a refused request verifies nothing (readiness checklist).
      ...(npmAudit && npmAudit.requests > npmAudit.warnings.length
        ? { npmAuditPackages: npmAudit.checked }
        : {}),
      symlinksSkipped: walked.symlinks,
      ...(options.history ? { commits } : {}),
    },
    partial,
  };
}
