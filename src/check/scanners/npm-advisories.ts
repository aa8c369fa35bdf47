/**
 * The npm registry's bulk advisory endpoint, as `npm audit` (npm 7+) uses it
 * (docs/content/commands/npm-audit.md, "Bulk Advisory Endpoint"; @npmcli/arborist
 * audit-report.js): POST `/-/npm/v1/security/advisories/bulk` with a gzip-compressed JSON body
 * `{"name": ["version", …]}`; the answer maps each name to the advisories whose range matches any
 * version sent: `{"name": [{"id", "url", "title", "severity", "vulnerable_versions", "cwe",
 * "cvss"}, …]}`. As npm does, each locked version is then tested against `vulnerable_versions`
 * (a semver range) itself.
 *
 * Opt-in (it sends every npm package name and version of the repository to the registry), and
 * bounded: at most MAX_REQUESTS requests of at most MAX_NAMES_PER_REQUEST names, a timeout per
 * request, MAX_RESPONSE_BYTES read per answer. A refused, failed, slow or malformed answer is a
 * warning (the packages it covered were not checked), never an exception.
 */
import { gzipSync } from "node:zlib";
import semver from "semver";
import { EnvHttpProxyAgent, request } from "undici";
import { isSeverity, type Severity } from "../findings.js";
import type { LockedPackage } from "./lockfiles/lockfiles.js";

export const BULK_ADVISORY_PATH = "/-/npm/v1/security/advisories/bulk";
export const DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org/";
const MAX_NAMES_PER_REQUEST = 2000;
const MAX_REQUESTS = 10;
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export interface NpmAuditOptions {
  /** Registry base URL (default the public registry); the endpoint path is appended to it. */
  readonly registry: string;
  /** Per-request limit (default 30 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
}

export interface NpmAdvisory {
  readonly id: number | string;
  readonly url?: string;
  readonly title?: string;
  readonly severity?: string;
  readonly vulnerable_versions?: string;
  readonly cwe?: readonly string[];
}

export interface NpmAdvisoryMatch {
  readonly pkg: LockedPackage;
  readonly advisory: NpmAdvisory;
  readonly severity: Severity;
}

export interface NpmAuditResult {
  readonly matches: NpmAdvisoryMatch[];
  readonly warnings: string[];
  /** Distinct name@version pairs the registry answered for. */
  readonly checked: number;
  readonly requests: number;
}

/** npm's severities (info, low, moderate, high, critical) on ours; unknown ones count as high, as npm does. */
export function npmSeverity(text: string | undefined): Severity {
  if (text === "moderate") return "medium";
  return text !== undefined && isSeverity(text) ? text : "high";
}

/**
 * The endpoint URL without credentials, and the credentials (a registry URL may carry
 * `user:token@`) as a Basic authorization header, so they never appear in a warning or report.
 */
export function bulkEndpoint(registry: string): { url: string; authorization?: string } {
  const base = new URL(registry);
  base.pathname = `${base.pathname.replace(/\/+$/, "")}${BULK_ADVISORY_PATH}`;
  base.search = "";
  base.hash = "";
  const user = decodeURIComponent(base.username);
  const password = decodeURIComponent(base.password);
  base.username = "";
  base.password = "";
  return {
    url: base.toString(),
    ...(user || password
      ? { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` }
      : {}),
  };
}

/** The answer for one package name: a list of advisory objects, or undefined when malformed. */
function advisoriesOf(value: unknown): NpmAdvisory[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list: NpmAdvisory[] = [];
  for (const item of value) {
    if (item === null || typeof item !== "object") return undefined;
    const advisory = item as Record<string, unknown>;
    if (typeof advisory.id !== "number" && typeof advisory.id !== "string") return undefined;
    list.push(advisory as unknown as NpmAdvisory);
  }
  return list;
}

/** Whether `version` lies in an advisory's range; a range that does not parse matches nothing (and is reported). */
function affected(version: string, range: string): boolean | undefined {
  if (semver.validRange(range, { loose: true }) === null) return undefined;
  return semver.satisfies(version, range, { loose: true, includePrerelease: true });
}

export async function npmBulkAdvisories(
  packages: readonly LockedPackage[],
  options: NpmAuditOptions,
): Promise<NpmAuditResult> {
  const warnings: string[] = [];
  const matches: NpmAdvisoryMatch[] = [];
  const versions = new Map<string, Set<string>>();
  for (const pkg of packages) {
    if (pkg.ecosystem !== "npm" || semver.valid(pkg.version, { loose: true }) === null) continue;
    const set = versions.get(pkg.name) ?? new Set<string>();
    set.add(pkg.version);
    versions.set(pkg.name, set);
  }
  const names = [...versions.keys()].sort();
  if (names.length === 0) return { matches, warnings, checked: 0, requests: 0 };
  let endpoint: ReturnType<typeof bulkEndpoint>;
  try {
    endpoint = bulkEndpoint(options.registry);
  } catch {
    return {
      matches,
      warnings: [
        // The setting is not echoed: it may hold a token.
        "npm audit: the registry setting is not a URL; npm packages not checked",
      ],
      checked: 0,
      requests: 0,
    };
  }
  const batches: string[][] = [];
  for (let start = 0; start < names.length; start += MAX_NAMES_PER_REQUEST)
    batches.push(names.slice(start, start + MAX_NAMES_PER_REQUEST));
  if (batches.length > MAX_REQUESTS) {
    const skipped = batches.slice(MAX_REQUESTS).flat().length;
    warnings.push(
      `npm audit: ${names.length} npm packages exceed the ${MAX_REQUESTS * MAX_NAMES_PER_REQUEST} asked about per run; ${skipped} not checked`,
    );
    batches.length = MAX_REQUESTS;
  }
  const dispatcher = new EnvHttpProxyAgent();
  const unparsable = new Set<string>();
  let checked = 0;
  let requests = 0;
  try {
    for (const batch of batches) {
      if (options.signal?.aborted) {
        warnings.push("npm audit: interrupted; some npm packages were not checked");
        break;
      }
      requests += 1;
      const answer = await post(endpoint, batch, versions, dispatcher, options);
      if (typeof answer === "string") {
        warnings.push(
          `npm audit: ${answer}; ${batch.length} npm package(s) not checked against ${endpoint.url}`,
        );
        continue;
      }
      for (const name of batch) {
        const listed = answer[name];
        const advisories = listed === undefined ? [] : advisoriesOf(listed);
        if (advisories === undefined) {
          warnings.push(`npm audit: unexpected advisory list for ${name}; not checked`);
          continue;
        }
        checked += versions.get(name)?.size ?? 0;
        for (const advisory of advisories) {
          for (const pkg of packages) {
            if (pkg.ecosystem !== "npm" || pkg.name !== name) continue;
            const range = advisory.vulnerable_versions ?? "*";
            const hit = affected(pkg.version, range);
            if (hit === undefined) unparsable.add(`${name} ${advisory.id} (${range})`);
            if (hit) matches.push({ pkg, advisory, severity: npmSeverity(advisory.severity) });
          }
        }
      }
    }
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
  if (unparsable.size > 0)
    warnings.push(
      `npm audit: advisory ranges that are not semver ranges were ignored: ${[...unparsable].slice(0, 5).join(", ")}`,
    );
  return { matches, warnings, checked, requests };
}

/** One POST; the parsed answer, or a sentence saying why there is none. */
async function post(
  endpoint: ReturnType<typeof bulkEndpoint>,
  batch: readonly string[],
  versions: ReadonlyMap<string, ReadonlySet<string>>,
  dispatcher: EnvHttpProxyAgent,
  options: NpmAuditOptions,
): Promise<Record<string, unknown> | string> {
  const body = gzipSync(
    JSON.stringify(Object.fromEntries(batch.map((name) => [name, [...versions.get(name)!]]))),
  );
  const timeoutMs = options.timeoutMs ?? 30_000;
  const signal = options.signal
    ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
    : AbortSignal.timeout(timeoutMs);
  try {
    const response = await request(endpoint.url, {
      method: "POST",
      dispatcher,
      signal,
      headers: {
        "content-type": "application/json",
        "content-encoding": "gzip",
        accept: "application/json",
        "user-agent": "bulwark-check (+docs/checks.md)",
        ...(endpoint.authorization ? { authorization: endpoint.authorization } : {}),
      },
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_RESPONSE_BYTES) {
        response.body.destroy();
        return `the answer exceeded ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB`;
      }
      chunks.push(chunk as Buffer);
    }
    if (response.statusCode !== 200) {
      const reason = Buffer.concat(chunks).toString("utf8").replace(/\s+/g, " ").trim().slice(0, 120);
      return `the registry answered ${response.statusCode}${reason ? ` (${reason})` : ""}`;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return "the registry's answer is not JSON";
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      return "the registry's answer is not a JSON object of package names";
    return parsed as Record<string, unknown>;
  } catch (error) {
    if (signal.aborted && !options.signal?.aborted) return `no answer within ${timeoutMs} ms`;
    const code = (error as NodeJS.ErrnoException).code;
    return `request failed (${code ?? (error as Error).message})`;
  }
}
