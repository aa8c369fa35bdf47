/**
 * The launch checklist: each item is `pass`, `fail` or `not verified`, decided from evidence
 * records only (a claim without a record is "not verified"). Records older than `maxAgeDays`
 * are stale and verify nothing. The readiness percentage counts passes over all items; the
 * grade follows it and is capped by the worst grade of the check reports it used, so a critical
 * finding anywhere caps readiness at F (docs/checks.md, "Readiness report").
 */
import type { Finding } from "../findings.js";
import { GRADES, type Grade, gradeFor } from "../scoring.js";
import type { CheckRecord, Evidence, EvidenceRecord } from "./evidence.js";
import type { ITEM_AREAS, ItemId } from "./item-ids.js";

export type ItemStatus = "pass" | "fail" | "not verified" | "not applicable";

export interface ChecklistItem {
  /**
   * Stable id, e.g. `url-tls` or `config-valid` (item-ids.ts; docs/checks.md lists them), or the
   * id of a team item (readiness.items).
   */
  readonly id: ItemId | (string & {});
  readonly area: (typeof ITEM_AREAS)[number];
  readonly title: string;
  readonly status: ItemStatus;
  /** Why: the record and what in it decided, or what is missing. */
  readonly evidence: string;
}

/** A check report the checklist used: from this run, or read from the evidence folder. */
export interface CheckUsed {
  readonly type: "url" | "repo";
  readonly target: string;
  /** The evidence file, or "(this run)" when the report was not written. */
  readonly source: string;
  readonly startedAt: string;
  readonly score: number;
  readonly grade: string;
  readonly findings: readonly Finding[];
}

export interface ReadinessReport {
  readonly kind: "bulwark.readiness";
  readonly version: 1;
  readonly generatedAt: string;
  readonly evidenceDir: string;
  /** The config file whose readiness section and gateway config were used, if any. */
  readonly config?: string;
  readonly percent: number;
  readonly grade: Grade;
  readonly go: boolean;
  readonly items: readonly ChecklistItem[];
  readonly checks: readonly CheckUsed[];
  readonly warnings: readonly string[];
  /** True when Ctrl-C stopped a configured check: its report holds what was seen until then. */
  readonly partial: boolean;
}

export interface ChecklistOptions {
  readonly evidenceDir: string;
  readonly maxAgeDays: number;
  readonly now?: Date;
  readonly configItems?: readonly ChecklistItem[];
  /** The team's own items (readiness.items, judged by team-items.ts), listed with their area. */
  readonly teamItems?: readonly ChecklistItem[];
  readonly config?: string;
  /**
   * Reports of the checks this run made (the readiness section's targets). When there is one of
   * a type, every one of that type is judged and the folder's record of that type is not used.
   */
  readonly current?: readonly EvidenceRecord<CheckRecord>[];
  readonly partial?: boolean;
  readonly warnings?: readonly string[];
  /** Items the team declared not applicable (readiness.notApplicable), with the reason. */
  readonly notApplicable?: readonly { readonly item: ItemId; readonly reason: string }[];
}

const SEVERE = new Set(["critical", "high"]);

export function buildChecklist(evidence: Evidence, options: ChecklistOptions): ReadinessReport {
  const now = options.now ?? new Date();
  const warnings = [...(options.warnings ?? []), ...evidence.warnings];
  const fresh = <T>(record: EvidenceRecord<T> | undefined, what: string): EvidenceRecord<T> | undefined => {
    if (!record) return undefined;
    const age = (now.getTime() - Date.parse(record.startedAt)) / 86_400_000;
    if (age > options.maxAgeDays) {
      warnings.push(
        `${what} evidence ${record.file} is ${Math.floor(age)} days old (over ${options.maxAgeDays}); not used`,
      );
      return undefined;
    }
    return record;
  };
  const checks = (type: "url" | "repo"): EvidenceRecord<CheckRecord>[] => {
    const current = (options.current ?? []).filter((record) => record.data.target.type === type);
    const stored = fresh(evidence[type], `check ${type}`);
    const chosen = current.length > 0 ? current : stored ? [stored] : [];
    // An interrupted check saw only part of its target: its silence proves nothing.
    for (const record of chosen.filter((item) => item.data.partial === true))
      warnings.push(
        `check ${type} ${record.data.target.value} was interrupted (${record.file}); it verifies nothing`,
      );
    return chosen.filter((record) => record.data.partial !== true);
  };
  const urls = checks("url");
  const repos = checks("repo");
  const load = fresh(evidence.load, "load test");
  const drill = fresh(evidence.drill, "restore drill");
  const items: ChecklistItem[] = [];
  const add = (id: ItemId, area: ChecklistItem["area"], title: string, status: ItemStatus, why: string) =>
    items.push({ id, area, title, status, evidence: why });
  const from = (record: EvidenceRecord<unknown>) => `${record.file} (${record.startedAt})`;
  const fromAll = (records: readonly EvidenceRecord<unknown>[]) => records.map(from).join(", ");
  const missing = (command: string) => `no evidence: run \`${command}\``;

  const byCheck = (
    records: readonly EvidenceRecord<CheckRecord>[],
    command: string,
    id: ItemId,
    area: ChecklistItem["area"],
    title: string,
    failing: (finding: CheckRecord["findings"][number]) => boolean,
  ) => {
    if (records.length === 0) return add(id, area, title, "not verified", missing(command));
    const failed = records
      .map((record) => ({ record, bad: record.data.findings.filter(failing) }))
      .filter((entry) => entry.bad.length > 0);
    if (failed.length === 0) return add(id, area, title, "pass", `no such finding in ${fromAll(records)}`);
    add(
      id,
      area,
      title,
      "fail",
      failed
        .map(
          ({ record, bad }) =>
            `${bad.length} finding(s): ${[...new Set(bad.map((item) => item.id))].join(", ")} — ${from(record)}`,
        )
        .join("; "),
    );
  };
  const URL_CMD = "bulwark check url URL";
  const REPO_CMD = "bulwark check repo DIR";

  // security
  byCheck(urls, URL_CMD, "url-no-severe", "security", "live service: no critical or high finding", (f) =>
    SEVERE.has(f.severity),
  );
  byCheck(
    urls,
    URL_CMD,
    "url-headers",
    "security",
    "security headers, cookies and CORS sound (nothing above low)",
    (f) => ["headers", "cookies", "cors"].includes(f.category) && !["low", "info"].includes(f.severity),
  );
  byCheck(
    urls,
    URL_CMD,
    "url-tls",
    "security",
    "TLS configuration sound",
    (f) => f.category === "transport" && SEVERE.has(f.severity),
  );
  byCheck(
    repos,
    REPO_CMD,
    "repo-secrets",
    "security",
    "no secrets in the repository",
    (f) => f.category === "secrets" && f.severity !== "low",
  );
  byCheck(
    repos,
    REPO_CMD,
    "repo-containers",
    "security",
    "containers hardened (no critical or high)",
    (f) => f.category === "containers" && SEVERE.has(f.severity),
  );
  const dependencies = "no dependency with a critical or high advisory";
  const unchecked = repos.filter(
    (record) =>
      record.data.stats.advisories === undefined && record.data.stats.npmAuditPackages === undefined,
  );
  const vulnerable = repos.some((record) =>
    record.data.findings.some((f) => f.category === "dependencies" && SEVERE.has(f.severity)),
  );
  if (unchecked.length > 0 && !vulnerable) {
    add(
      "repo-dependencies",
      "security",
      dependencies,
      "not verified",
      `${fromAll(unchecked)} ran without --advisories or --npm-audit`,
    );
  } else {
    byCheck(
      repos,
      "bulwark check repo DIR --advisories OSV_DIR",
      "repo-dependencies",
      "security",
      dependencies,
      (f) => f.category === "dependencies" && SEVERE.has(f.severity),
    );
  }

  // testing
  const loadTitle = "load test met its thresholds";
  if (!load)
    add("load-thresholds", "testing", loadTitle, "not verified", missing("bulwark load URL --threshold …"));
  else if (load.data.partial)
    add("load-thresholds", "testing", loadTitle, "fail", `run was interrupted — ${from(load)}`);
  else if (!load.data.valid)
    add(
      "load-thresholds",
      "testing",
      loadTitle,
      "not verified",
      `the load generator was the bottleneck — ${from(load)}`,
    );
  else if (load.data.thresholds.length === 0)
    add("load-thresholds", "testing", loadTitle, "not verified", `no thresholds were set — ${from(load)}`);
  else
    add(
      "load-thresholds",
      "testing",
      loadTitle,
      load.data.ok ? "pass" : "fail",
      `${load.data.requests} requests, thresholds ${load.data.ok ? "passed" : "failed"} — ${from(load)}`,
    );

  // disaster recovery
  const drillItems = [
    ["drill-succeeded", "restore drill succeeded"],
    ["drill-rto", "RTO objective met"],
    ["drill-rpo", "RPO objective met"],
  ] as const;
  if (!drill) {
    for (const [id, title] of drillItems)
      add(id, "disaster recovery", title, "not verified", missing("bulwark drill restore …"));
  } else {
    add(
      drillItems[0][0],
      "disaster recovery",
      drillItems[0][1],
      drill.data.ok ? "pass" : "fail",
      `${drill.data.ok ? "passed" : drill.data.failures.join("; ")} — ${from(drill)}`,
    );
    for (const [[id, title], objective] of [
      [drillItems[1], drill.data.rto],
      [drillItems[2], drill.data.rpo],
    ] as const) {
      add(
        id,
        "disaster recovery",
        title,
        objective.met === null ? "not verified" : objective.met ? "pass" : "fail",
        `${objective.met === null ? "no objective set" : `measured ${Math.round(objective.measuredMs)} ms`} — ${from(drill)}`,
      );
    }
  }

  // deployment
  byCheck(urls, URL_CMD, "url-https-only", "deployment", "HTTPS only: redirect from HTTP and HSTS", (f) =>
    ["tls-not-used", "tls-no-redirect", "hdr-hsts-missing"].includes(f.id),
  );
  byCheck(
    urls,
    URL_CMD,
    "url-no-exposure",
    "deployment",
    "no debug, admin or backup exposure",
    (f) => f.category === "disclosure" && SEVERE.has(f.severity),
  );

  items.push(...(options.configItems ?? []));

  // observability
  byCheck(
    urls,
    URL_CMD,
    "url-health",
    "observability",
    "health endpoint answers",
    (f) => f.id === "ops-health-missing",
  );
  byCheck(
    urls,
    URL_CMD,
    "url-metrics-private",
    "observability",
    "metrics not public",
    (f) => f.id === "ops-metrics-public",
  );
  const rateTitle = "rate limiting observed";
  const unthrottled = urls.filter((record) => record.data.findings.some((f) => f.id === "ops-no-rate-limit"));
  const unprobed = urls.filter(
    (record) =>
      !record.data.strengths.some((item) => item.id === "bonus-rate-limited") &&
      !unthrottled.includes(record),
  );
  if (urls.length === 0)
    add(
      "url-rate-limited",
      "observability",
      rateTitle,
      "not verified",
      missing("bulwark check url URL --probe-rate-limit"),
    );
  else if (unthrottled.length > 0)
    add(
      "url-rate-limited",
      "observability",
      rateTitle,
      "fail",
      `no 429 during the burst — ${fromAll(unthrottled)}`,
    );
  else if (unprobed.length > 0)
    add(
      "url-rate-limited",
      "observability",
      rateTitle,
      "not verified",
      `${fromAll(unprobed)} ran without --probe-rate-limit`,
    );
  else add("url-rate-limited", "observability", rateTitle, "pass", `429 during the burst — ${fromAll(urls)}`);

  // Each team item goes after the last built-in item of its area, so areas stay together.
  for (const item of options.teamItems ?? []) {
    let last = items.length - 1;
    while (last >= 0 && items[last]!.area !== item.area) last--;
    items.splice(last === -1 ? items.length : last + 1, 0, item);
  }

  // A declared exception replaces the verdict, but a failure it hides is still named.
  for (const { item: id, reason } of options.notApplicable ?? []) {
    const index = items.findIndex((item) => item.id === id);
    const item = items[index];
    if (!item) continue;
    if (item.status === "fail")
      warnings.push(`${id} is declared not applicable but would fail: ${item.evidence}`);
    items[index] = { ...item, status: "not applicable", evidence: `declared not applicable: ${reason}` };
  }
  const counted = items.filter((item) => item.status !== "not applicable");
  const passed = counted.filter((item) => item.status === "pass").length;
  const percent = counted.length === 0 ? 100 : Math.round((100 * passed) / counted.length);
  let grade = gradeFor(percent);
  for (const record of [...urls, ...repos]) {
    const capped = record.data.grade as Grade;
    if (GRADES.includes(capped) && GRADES.indexOf(capped) > GRADES.indexOf(grade)) grade = capped;
  }
  return {
    kind: "bulwark.readiness",
    version: 1,
    generatedAt: now.toISOString(),
    evidenceDir: options.evidenceDir,
    ...(options.config ? { config: options.config } : {}),
    percent,
    grade,
    go: counted.every((item) => item.status === "pass"),
    items,
    checks: [...urls, ...repos].map((record) => ({
      type: record.data.target.type,
      target: record.data.target.value,
      source: record.file,
      startedAt: record.startedAt,
      score: record.data.score,
      grade: record.data.grade,
      findings: record.data.findings,
    })),
    warnings,
    partial: options.partial === true,
  };
}

const FINDINGS_SHOWN = 10;

/** "3 pass, 1 fail, 2 not verified[, 1 not applicable]". */
export function itemCounts(report: ReadinessReport): string {
  const count = (status: ItemStatus) => report.items.filter((item) => item.status === status).length;
  const na = count("not applicable");
  return `${count("pass")} pass, ${count("fail")} fail, ${count("not verified")} not verified${na > 0 ? `, ${na} not applicable` : ""}`;
}

export function renderChecklist(report: ReadinessReport): string {
  const mark: Record<ItemStatus, string> = {
    pass: "pass",
    fail: "FAIL",
    "not verified": "not verified",
    "not applicable": "n/a",
  };
  const lines = [
    "",
    `readiness ${report.percent}%  grade ${report.grade}  ${report.go ? "GO" : "NO-GO"}  (evidence: ${report.evidenceDir})`,
    itemCounts(report),
  ];
  let area = "";
  for (const item of report.items) {
    if (item.area !== area) {
      area = item.area;
      lines.push("", `${area}:`);
    }
    lines.push(`  ${mark[item.status].padEnd(12)} ${item.title}`, `               ${item.evidence}`);
  }
  if (report.checks.length > 0) lines.push("", "checks:");
  for (const check of report.checks) {
    lines.push(
      `  ${check.type} ${check.target}  grade ${check.grade}  score ${check.score}  ${check.findings.length} finding(s)  (${check.source})`,
    );
    // Worst first (the report keeps them sorted); the full list is in --format json and the evidence file.
    for (const item of check.findings.slice(0, FINDINGS_SHOWN))
      lines.push(`    ${item.severity.padEnd(8)} ${item.id}  ${item.title}  ${item.location}`);
    if (check.findings.length > FINDINGS_SHOWN)
      lines.push(
        `    … ${check.findings.length - FINDINGS_SHOWN} more (--format json or the evidence file has them all)`,
      );
  }
  if (report.partial) lines.push("", "partial: interrupted before every configured check finished");
  if (report.warnings.length > 0)
    lines.push("", "warnings:", ...report.warnings.map((warning) => `  ${warning}`));
  return `${lines.join("\n")}\n`;
}
