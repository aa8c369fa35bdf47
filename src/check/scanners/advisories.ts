/**
 * An offline OSV database: a directory of OSV JSON files (https://ossf.github.io/osv-schema/),
 * as published per ecosystem (e.g. the npm `all.zip` of osv.dev, unpacked). Each file holds one
 * advisory, or an array of them. A version is affected when it is listed in `versions`, or lies
 * in a SEMVER/ECOSYSTEM range: at or after an `introduced` event and before the next `fixed`
 * (or at most `last_affected`). GIT ranges are ignored (they name commits, not versions).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import { BulwarkError } from "../../errors.js";
import type { Severity } from "../findings.js";
import type { Ecosystem, LockedPackage } from "./lockfiles/lockfiles.js";

interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

interface OsvAffected {
  package?: { ecosystem?: string; name?: string };
  ranges?: { type?: string; events?: OsvEvent[] }[];
  versions?: string[];
}

export interface OsvAdvisory {
  id: string;
  aliases?: string[];
  summary?: string;
  details?: string;
  affected?: OsvAffected[];
  severity?: { type?: string; score?: string }[];
  database_specific?: { severity?: string };
  withdrawn?: string;
}

export interface AdvisoryMatch {
  readonly advisory: OsvAdvisory;
  readonly severity: Severity;
  readonly fixed: string[];
}

export interface AdvisoryDatabase {
  readonly count: number;
  readonly warnings: readonly string[];
  match(pkg: LockedPackage): AdvisoryMatch[];
}

function normalizeName(ecosystem: string, name: string): string {
  return ecosystem === "PyPI" ? name.toLowerCase().replace(/[-_.]+/g, "-") : name;
}

export function loadAdvisories(
  dir: string,
  limits = { maxFiles: 500_000, maxFileBytes: 20 * 1024 * 1024 },
): AdvisoryDatabase {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(dir);
  } catch (error) {
    throw new BulwarkError(
      "check_advisories_invalid",
      `--advisories ${dir}: ${(error as NodeJS.ErrnoException).code ?? "cannot read"}`,
    );
  }
  if (!stat.isDirectory())
    throw new BulwarkError(
      "check_advisories_invalid",
      `--advisories ${dir}: not a directory of OSV JSON files`,
    );
  const index = new Map<string, OsvAdvisory[]>();
  const warnings: string[] = [];
  let count = 0;
  const stack = [dir];
  let files = 0;
  while (stack.length > 0 && files < limits.maxFiles) {
    const current = stack.pop()!;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) stack.push(path);
      if (!entry.isFile() || !entry.name.endsWith(".json")) continue;
      files += 1;
      let parsed: unknown;
      try {
        if (statSync(path).size > limits.maxFileBytes) throw new Error("file too large");
        parsed = JSON.parse(readFileSync(path, "utf8"));
      } catch (error) {
        warnings.push(`advisory ${entry.name} skipped: ${(error as Error).message.split("\n")[0]}`);
        continue;
      }
      for (const advisory of Array.isArray(parsed) ? parsed : [parsed]) {
        if (!advisory || typeof advisory !== "object" || typeof (advisory as OsvAdvisory).id !== "string") {
          warnings.push(`advisory ${entry.name} skipped: not an OSV record (no id)`);
          continue;
        }
        const record = advisory as OsvAdvisory;
        if (record.withdrawn) continue;
        count += 1;
        for (const affected of Array.isArray(record.affected) ? record.affected : []) {
          const ecosystem = affected?.package?.ecosystem;
          const name = affected?.package?.name;
          if (typeof ecosystem !== "string" || typeof name !== "string") continue;
          const key = `${ecosystem.split(":")[0]}\u0000${normalizeName(ecosystem, name)}`;
          const list = index.get(key) ?? [];
          if (!list.includes(record)) list.push(record);
          index.set(key, list);
        }
      }
    }
  }
  if (files >= limits.maxFiles)
    warnings.push(`advisory directory has more than ${limits.maxFiles} files; the rest were not read`);
  return {
    count,
    warnings,
    match(pkg) {
      const candidates = index.get(`${pkg.ecosystem}\u0000${normalizeName(pkg.ecosystem, pkg.name)}`) ?? [];
      const out: AdvisoryMatch[] = [];
      for (const advisory of candidates) {
        for (const affected of advisory.affected ?? []) {
          if (affected.package?.ecosystem?.split(":")[0] !== pkg.ecosystem) continue;
          if (
            normalizeName(pkg.ecosystem, affected.package?.name ?? "") !==
            normalizeName(pkg.ecosystem, pkg.name)
          )
            continue;
          const result = affects(affected, pkg.version, pkg.ecosystem);
          if (result.affected) {
            out.push({ advisory, severity: advisorySeverity(advisory), fixed: result.fixed });
            break;
          }
        }
      }
      return out;
    },
  };
}

/** Compares two versions: semver when both parse, else dotted segments (numbers numerically). */
export function compareVersions(a: string, b: string, ecosystem: Ecosystem | string = "npm"): number {
  const strip = (v: string) => (ecosystem === "Go" ? v.replace(/^v/, "") : v);
  const sa = semver.valid(strip(a), { loose: true });
  const sb = semver.valid(strip(b), { loose: true });
  if (sa && sb) return semver.compare(sa, sb);
  const split = (v: string) =>
    strip(v)
      .split(/[.\-+_]/)
      .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return typeof y === "string" ? 1 : -1; // 1.0 < 1.0.1, but 1.0 > 1.0-rc1
    if (y === undefined) return typeof x === "string" ? -1 : 1;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x < y ? -1 : 1;
    if (typeof x === "number") return 1;
    if (typeof y === "number") return -1;
    return x < y ? -1 : 1;
  }
  return 0;
}

export function affects(
  affected: OsvAffected,
  version: string,
  ecosystem: string,
): { affected: boolean; fixed: string[] } {
  const fixed: string[] = [];
  for (const range of affected.ranges ?? []) {
    for (const event of range.events ?? []) if (event.fixed) fixed.push(event.fixed);
  }
  if ((affected.versions ?? []).includes(version)) return { affected: true, fixed };
  for (const range of affected.ranges ?? []) {
    if (range.type !== "SEMVER" && range.type !== "ECOSYSTEM") continue;
    const cmp = (a: string, b: string) =>
      a === "0" ? (b === "0" ? 0 : -1) : b === "0" ? 1 : compareVersions(a, b, ecosystem);
    // OSV: sort events by version, then walk them; each `introduced` opens and `fixed`/`last_affected` close.
    const events = [...(range.events ?? [])].sort((x, y) => {
      const vx = x.introduced ?? x.fixed ?? x.last_affected ?? x.limit ?? "0";
      const vy = y.introduced ?? y.fixed ?? y.last_affected ?? y.limit ?? "0";
      return cmp(vx, vy);
    });
    let inside = false;
    for (const event of events) {
      if (event.introduced !== undefined) {
        if (cmp(version, event.introduced) >= 0) inside = true;
        else break;
      } else if (event.fixed !== undefined) {
        if (cmp(version, event.fixed) >= 0) inside = false;
        else break;
      } else if (event.last_affected !== undefined) {
        if (cmp(version, event.last_affected) > 0) inside = false;
        else break;
      } else if (event.limit !== undefined) {
        if (cmp(version, event.limit) >= 0) inside = false;
        break;
      }
    }
    if (inside) return { affected: true, fixed };
  }
  return { affected: false, fixed };
}

const DB_SEVERITY: Record<string, Severity> = {
  CRITICAL: "critical",
  HIGH: "high",
  MODERATE: "medium",
  MEDIUM: "medium",
  LOW: "low",
};

/** The advisory's own severity (GitHub's database_specific.severity), else the CVSS v3 base score. */
export function advisorySeverity(advisory: OsvAdvisory): Severity {
  const named = advisory.database_specific?.severity?.toUpperCase();
  if (named && DB_SEVERITY[named]) return DB_SEVERITY[named]!;
  for (const entry of advisory.severity ?? []) {
    if (entry.type === "CVSS_V3" && entry.score) {
      const score = cvss3BaseScore(entry.score);
      if (score !== undefined)
        return score >= 9
          ? "critical"
          : score >= 7
            ? "high"
            : score >= 4
              ? "medium"
              : score > 0
                ? "low"
                : "info";
    }
  }
  return "high";
}

/** CVSS v3.x base score from a vector string (FIRST CVSS v3.1 specification, §7.1). */
export function cvss3BaseScore(vector: string): number | undefined {
  const metrics = Object.fromEntries(
    vector
      .split("/")
      .slice(1)
      .map((part) => part.split(":") as [string, string]),
  );
  const W: Record<string, Record<string, number>> = {
    AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
    AC: { L: 0.77, H: 0.44 },
    UI: { N: 0.85, R: 0.62 },
    C: { H: 0.56, L: 0.22, N: 0 },
    I: { H: 0.56, L: 0.22, N: 0 },
    A: { H: 0.56, L: 0.22, N: 0 },
  };
  const scope = metrics.S;
  const pr = { U: { N: 0.85, L: 0.62, H: 0.27 }, C: { N: 0.85, L: 0.68, H: 0.5 } }[scope as "U" | "C"]?.[
    metrics.PR as "N" | "L" | "H"
  ];
  const get = (key: string) => W[key]?.[metrics[key] ?? ""];
  const [av, ac, ui, c, i, a] = ["AV", "AC", "UI", "C", "I", "A"].map(get);
  if ([av, ac, ui, c, i, a, pr].some((value) => value === undefined)) return undefined;
  const iss = 1 - (1 - c!) * (1 - i!) * (1 - a!);
  const impact = scope === "U" ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * av! * ac! * pr! * ui!;
  if (impact <= 0) return 0;
  const roundUp = (x: number) => {
    const int = Math.round(x * 100000);
    return int % 10000 === 0 ? int / 100000 : (Math.floor(int / 10000) + 1) / 10;
  };
  return scope === "U"
    ? roundUp(Math.min(impact + exploitability, 10))
    : roundUp(Math.min(1.08 * (impact + exploitability), 10));
}
