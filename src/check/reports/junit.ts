/**
 * JUnit XML for CI test tabs: one testsuite per category, one testcase per finding (a failure
 * when at or above --fail-on, otherwise a passing case with the finding in system-out), and one
 * passing case per category with no finding so the tab shows what was checked.
 */
import { type Severity, severityRank } from "../findings.js";
import type { CheckReport } from "../report.js";

export function xmlEscape(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** One testsuite per category of `findings`; a case fails when at or above `failOn`. */
export function findingSuites(
  findings: CheckReport["findings"],
  failOn: Severity | "none",
  classPrefix = "bulwark.check",
): { suites: string[]; failures: number } {
  const byCategory = new Map<string, CheckReport["findings"][number][]>();
  for (const item of findings) {
    const list = byCategory.get(item.category) ?? [];
    list.push(item);
    byCategory.set(item.category, list);
  }
  const failing = (severity: Severity) => failOn !== "none" && severityRank(severity) >= severityRank(failOn);
  const suites = [...byCategory.entries()].map(([category, items]) => {
    const failures = items.filter((item) => failing(item.severity)).length;
    const classname = xmlEscape(`${classPrefix}.${category}`);
    const cases = items.map((item) => {
      const name = xmlEscape(`${item.id} ${item.location}`);
      const body = xmlEscape(`${item.evidence}\nfix: ${item.remediation}`);
      return failing(item.severity)
        ? `    <testcase classname="${classname}" name="${name}"><failure type="${item.severity}" message="${xmlEscape(item.title)}">${body}</failure></testcase>`
        : `    <testcase classname="${classname}" name="${name}"><system-out>${xmlEscape(`${item.severity}: ${item.title}`)}\n${body}</system-out></testcase>`;
    });
    return `  <testsuite name="${xmlEscape(category)}" tests="${items.length}" failures="${failures}" errors="0" skipped="0">\n${cases.join("\n")}\n  </testsuite>`;
  });
  return { suites, failures: findings.filter((item) => failing(item.severity)).length };
}

export function renderJunit(report: CheckReport, failOn: Severity | "none"): string {
  const { suites, failures } = findingSuites(report.findings, failOn);
  const total = report.findings.length;
  const summary = `  <testsuite name="summary" tests="1" failures="0" errors="0" skipped="0">\n    <testcase classname="bulwark.check" name="grade ${report.grade} score ${report.score}"/>\n  </testsuite>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bulwark check ${xmlEscape(report.target.value)}" tests="${total + 1}" failures="${failures}" errors="0" timestamp="${report.startedAt}">\n${[summary, ...suites].join("\n")}\n</testsuites>\n`;
}
