/**
 * The launch checklist: each item is `pass`, `fail` or `not verified`, decided from evidence
 * records only (a claim without a record is "not verified"). Records older than `maxAgeDays`
 * are stale and verify nothing. The readiness percentage counts passes over all items; the
 * grade follows it and is capped by the worst grade of the check reports it used, so a critical
 * finding anywhere caps readiness at F (docs/checks.md, "Readiness report").
 */
import { GRADES, type Grade } from "../scoring.js";
import type { CheckRecord, Evidence, EvidenceRecord } from "./evidence.js";

export type ItemStatus = "pass" | "fail" | "not verified";

export interface ChecklistItem {
  readonly area: "security" | "testing" | "disaster recovery" | "deployment" | "observability";
  readonly title: string;
  readonly status: ItemStatus;
  /** Why: the record and what in it decided, or what is missing. */
  readonly evidence: string;
}

export interface ReadinessReport {
  readonly kind: "bulwark.readiness";
  readonly version: 1;
  readonly generatedAt: string;
  readonly evidenceDir: string;
  readonly percent: number;
  readonly grade: Grade;
  readonly go: boolean;
  readonly items: readonly ChecklistItem[];
  readonly warnings: readonly string[];
}

const SEVERE = new Set(["critical", "high"]);

export function buildChecklist(
  evidence: Evidence,
  options: { evidenceDir: string; maxAgeDays: number; now?: Date; configItems?: readonly ChecklistItem[] },
): ReadinessReport {
  const now = options.now ?? new Date();
  const warnings = [...evidence.warnings];
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
  const url = fresh(evidence.url, "check url");
  const repo = fresh(evidence.repo, "check repo");
  const load = fresh(evidence.load, "load test");
  const drill = fresh(evidence.drill, "restore drill");
  const items: ChecklistItem[] = [];
  const add = (area: ChecklistItem["area"], title: string, status: ItemStatus, why: string) =>
    items.push({ area, title, status, evidence: why });
  const from = (record: EvidenceRecord<unknown>) => `${record.file} (${record.startedAt})`;
  const missing = (command: string) => `no evidence: run \`${command}\``;

  const byCheck = (
    record: EvidenceRecord<CheckRecord> | undefined,
    command: string,
    area: ChecklistItem["area"],
    title: string,
    failing: (finding: CheckRecord["findings"][number]) => boolean,
  ) => {
    if (!record) return add(area, title, "not verified", missing(command));
    const bad = record.data.findings.filter(failing);
    add(
      area,
      title,
      bad.length > 0 ? "fail" : "pass",
      bad.length > 0
        ? `${bad.length} finding(s): ${[...new Set(bad.map((item) => item.id))].join(", ")} — ${from(record)}`
        : `no such finding in ${from(record)}`,
    );
  };

  // security
  byCheck(url, "bulwark check url URL", "security", "live service: no critical or high finding", (f) =>
    SEVERE.has(f.severity),
  );
  byCheck(
    url,
    "bulwark check url URL",
    "security",
    "security headers, cookies and CORS sound (nothing above low)",
    (f) => ["headers", "cookies", "cors"].includes(f.category) && !["low", "info"].includes(f.severity),
  );
  byCheck(
    url,
    "bulwark check url URL",
    "security",
    "TLS configuration sound",
    (f) => f.category === "transport" && SEVERE.has(f.severity),
  );
  byCheck(
    repo,
    "bulwark check repo DIR",
    "security",
    "no secrets in the repository",
    (f) => f.category === "secrets" && f.severity !== "low",
  );
  byCheck(
    repo,
    "bulwark check repo DIR",
    "security",
    "containers hardened (no critical or high)",
    (f) => f.category === "containers" && SEVERE.has(f.severity),
  );
  if (repo && repo.data.stats.advisories === undefined) {
    add(
      "security",
      "no dependency with a critical or high advisory",
      "not verified",
      `${from(repo)} ran without --advisories`,
    );
  } else {
    byCheck(
      repo,
      "bulwark check repo DIR --advisories OSV_DIR",
      "security",
      "no dependency with a critical or high advisory",
      (f) => f.category === "dependencies" && SEVERE.has(f.severity),
    );
  }

  // testing
  if (!load)
    add("testing", "load test met its thresholds", "not verified", missing("bulwark load URL --threshold …"));
  else if (load.data.partial)
    add("testing", "load test met its thresholds", "fail", `run was interrupted — ${from(load)}`);
  else if (!load.data.valid)
    add(
      "testing",
      "load test met its thresholds",
      "not verified",
      `the load generator was the bottleneck — ${from(load)}`,
    );
  else if (load.data.thresholds.length === 0)
    add("testing", "load test met its thresholds", "not verified", `no thresholds were set — ${from(load)}`);
  else
    add(
      "testing",
      "load test met its thresholds",
      load.data.ok ? "pass" : "fail",
      `${load.data.requests} requests, thresholds ${load.data.ok ? "passed" : "failed"} — ${from(load)}`,
    );

  // disaster recovery
  if (!drill) {
    for (const title of ["restore drill succeeded", "RTO objective met", "RPO objective met"])
      add("disaster recovery", title, "not verified", missing("bulwark drill restore …"));
  } else {
    add(
      "disaster recovery",
      "restore drill succeeded",
      drill.data.ok ? "pass" : "fail",
      `${drill.data.ok ? "passed" : drill.data.failures.join("; ")} — ${from(drill)}`,
    );
    for (const [title, objective] of [
      ["RTO objective met", drill.data.rto],
      ["RPO objective met", drill.data.rpo],
    ] as const) {
      add(
        "disaster recovery",
        title,
        objective.met === null ? "not verified" : objective.met ? "pass" : "fail",
        `${objective.met === null ? "no objective set" : `measured ${Math.round(objective.measuredMs)} ms`} — ${from(drill)}`,
      );
    }
  }

  // deployment
  byCheck(url, "bulwark check url URL", "deployment", "HTTPS only: redirect from HTTP and HSTS", (f) =>
    ["tls-not-used", "tls-no-redirect", "hdr-hsts-missing"].includes(f.id),
  );
  byCheck(
    url,
    "bulwark check url URL",
    "deployment",
    "no debug, admin or backup exposure",
    (f) => f.category === "disclosure" && SEVERE.has(f.severity),
  );

  items.push(...(options.configItems ?? []));

  // observability
  byCheck(
    url,
    "bulwark check url URL",
    "observability",
    "health endpoint answers",
    (f) => f.id === "ops-health-missing",
  );
  byCheck(
    url,
    "bulwark check url URL",
    "observability",
    "metrics not public",
    (f) => f.id === "ops-metrics-public",
  );
  if (!url)
    add(
      "observability",
      "rate limiting observed",
      "not verified",
      missing("bulwark check url URL --probe-rate-limit"),
    );
  else if (url.data.strengths.some((item) => item.id === "bonus-rate-limited"))
    add("observability", "rate limiting observed", "pass", `429 during the burst — ${from(url)}`);
  else if (url.data.findings.some((item) => item.id === "ops-no-rate-limit"))
    add("observability", "rate limiting observed", "fail", `no 429 during the burst — ${from(url)}`);
  else
    add(
      "observability",
      "rate limiting observed",
      "not verified",
      `${from(url)} ran without --probe-rate-limit`,
    );

  const passed = items.filter((item) => item.status === "pass").length;
  const percent = Math.round((100 * passed) / items.length);
  let grade: Grade =
    percent >= 100
      ? "A+"
      : percent >= 90
        ? "A"
        : percent >= 80
          ? "B"
          : percent >= 65
            ? "C"
            : percent >= 50
              ? "D"
              : "F";
  for (const record of [url, repo]) {
    const capped = record?.data.grade as Grade | undefined;
    if (capped && GRADES.includes(capped) && GRADES.indexOf(capped) > GRADES.indexOf(grade)) grade = capped;
  }
  return {
    kind: "bulwark.readiness",
    version: 1,
    generatedAt: now.toISOString(),
    evidenceDir: options.evidenceDir,
    percent,
    grade,
    go: items.every((item) => item.status === "pass"),
    items,
    warnings,
  };
}

export function renderChecklist(report: ReadinessReport): string {
  const mark: Record<ItemStatus, string> = { pass: "pass", fail: "FAIL", "not verified": "not verified" };
  const lines = [
    "",
    `readiness ${report.percent}%  grade ${report.grade}  ${report.go ? "GO" : "NO-GO"}  (evidence: ${report.evidenceDir})`,
    `${report.items.filter((i) => i.status === "pass").length} pass, ${report.items.filter((i) => i.status === "fail").length} fail, ${report.items.filter((i) => i.status === "not verified").length} not verified`,
  ];
  let area = "";
  for (const item of report.items) {
    if (item.area !== area) {
      area = item.area;
      lines.push("", `${area}:`);
    }
    lines.push(`  ${mark[item.status].padEnd(12)} ${item.title}`, `               ${item.evidence}`);
  }
  if (report.warnings.length > 0)
    lines.push("", "warnings:", ...report.warnings.map((warning) => `  ${warning}`));
  return `${lines.join("\n")}\n`;
}
