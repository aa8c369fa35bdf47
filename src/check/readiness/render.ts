/**
 * The readiness report in every `--format`: the checklist first (item, status, evidence), then
 * the findings of the check reports it used, reusing the check report's renderers' pieces so a
 * finding looks the same in both. SARIF carries those findings (for code scanning) plus one
 * result per failed checklist item; JUnit has one suite for the checklist (a failed item fails,
 * a "not verified" one is skipped — or fails with strict) and one per finding category.
 */
import { relative } from "node:path";
import { VERSION } from "../../version.js";
import { SEVERITIES, type Severity, severityRank } from "../findings.js";
import { barChart, COLOUR, findingRowsHtml, STYLE } from "../reports/html.js";
import { xmlEscape as esc, findingSuites } from "../reports/junit.js";
import { cell, findingRow } from "../reports/markdown.js";
import type { Format } from "../reports/render.js";
import { physicalLocation, sarifResult, sarifRule } from "../reports/sarif.js";
import { type ItemStatus, itemCounts, type ReadinessReport, renderChecklist } from "./checklist.js";

export interface ReadinessRenderOptions {
  readonly failOn: Severity | "none";
  readonly strict: boolean;
}

const STATUS_COLOUR: Record<ItemStatus, string> = {
  pass: "#2b8a3e",
  fail: "#c92a2a",
  "not verified": "#868e96",
  "not applicable": "#ced4da",
};

export function renderReadiness(
  report: ReadinessReport,
  format: Format,
  options: ReadinessRenderOptions,
): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(report, null, 2)}\n`;
    case "sarif":
      return readinessSarif(report);
    case "junit":
      return readinessJunit(report, options);
    case "markdown":
      return readinessMarkdown(report);
    case "html":
      return readinessHtml(report);
    default:
      return renderChecklist(report);
  }
}

/** Findings of every check used, each with the check it came from. */
function allFindings(report: ReadinessReport) {
  return report.checks.flatMap((check) => check.findings.map((item) => ({ check, item })));
}

function readinessSarif(report: ReadinessReport): string {
  const findings = allFindings(report);
  const ids = [...new Set(findings.map(({ item }) => item.id))].sort();
  const failed = report.items.filter((item) => item.status === "fail");
  const rules = [
    ...ids.map(sarifRule),
    ...failed.map((item) => ({
      id: `readiness/${item.id}`,
      name: `Readiness ${item.id}`,
      shortDescription: { text: item.title },
      fullDescription: { text: `launch checklist (${item.area}): ${item.title}` },
      help: {
        text: "see docs/checks.md, Readiness report",
        markdown: "See `docs/checks.md`, *Readiness report*.",
      },
      defaultConfiguration: { level: "error" },
      properties: { tags: ["readiness", item.area] },
    })),
  ];
  const prefixOf = (target: string) => {
    const path = relative(process.cwd(), target).split("\\").join("/");
    return path === "" ? "" : `${path}/`;
  };
  const results = [
    ...findings.map(({ check, item }) => {
      const prefix = check.type === "repo" ? prefixOf(check.target) : "";
      return sarifResult(item, ids.indexOf(item.id), physicalLocation(item, check.type, prefix), prefix);
    }),
    ...failed.map((item, index) => ({
      ruleId: `readiness/${item.id}`,
      ruleIndex: ids.length + index,
      level: "error",
      message: { text: `${item.title}: ${item.evidence}` },
      locations: [
        {
          physicalLocation: {
            artifactLocation: {
              uri: report.config
                ? relative(process.cwd(), report.config).split("\\").join("/")
                : "bulwark.yaml",
              uriBaseId: "%SRCROOT%",
            },
          },
        },
      ],
    })),
  ];
  const sarif = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "bulwark-check", version: VERSION, semanticVersion: VERSION, rules } },
        invocations: [
          {
            executionSuccessful: true,
            endTimeUtc: report.generatedAt,
            toolExecutionNotifications: report.warnings.map((text) => ({
              level: "warning",
              message: { text },
            })),
          },
        ],
        results,
        properties: { readinessPercent: report.percent, grade: report.grade, go: report.go },
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function readinessJunit(report: ReadinessReport, options: ReadinessRenderOptions): string {
  const cases = report.items.map((item) => {
    const attributes = `classname="bulwark.readiness.${esc(item.area)}" name="${esc(`${item.id} ${item.title}`)}"`;
    if (item.status === "fail" || (item.status === "not verified" && options.strict))
      return `    <testcase ${attributes}><failure type="${esc(item.status)}" message="${esc(item.title)}">${esc(item.evidence)}</failure></testcase>`;
    if (item.status === "not verified" || item.status === "not applicable")
      return `    <testcase ${attributes}><skipped message="${esc(item.status)}: ${esc(item.evidence)}"/></testcase>`;
    return `    <testcase ${attributes}><system-out>${esc(item.evidence)}</system-out></testcase>`;
  });
  const failures = report.items.filter(
    (item) => item.status === "fail" || (item.status === "not verified" && options.strict),
  ).length;
  const skipped = report.items.filter(
    (item) => item.status === "not applicable" || (item.status === "not verified" && !options.strict),
  ).length;
  const checklist = `  <testsuite name="readiness checklist" tests="${report.items.length}" failures="${failures}" errors="0" skipped="${skipped}">\n${cases.join("\n")}\n  </testsuite>`;
  const findings = findingSuites(
    allFindings(report).map(({ item }) => item),
    options.failOn,
  );
  const tests = report.items.length + allFindings(report).length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bulwark readiness ${report.percent}% grade ${esc(report.grade)}" tests="${tests}" failures="${failures + findings.failures}" errors="0" timestamp="${report.generatedAt}">\n${[checklist, ...findings.suites].join("\n")}\n</testsuites>\n`;
}

function summaryLine(report: ReadinessReport): string {
  return `readiness ${report.percent}% — grade ${report.grade} — ${report.go ? "GO" : "NO-GO"} (${itemCounts(report)})`;
}

function readinessMarkdown(report: ReadinessReport): string {
  const lines = [
    "# bulwark readiness",
    "",
    `**${summaryLine(report)}**${report.partial ? " — partial (interrupted)" : ""}`,
    "",
    "| area | item | status | evidence |",
    "| --- | --- | --- | --- |",
    ...report.items.map(
      (item) =>
        `| ${item.area} | ${cell(item.title)} | ${item.status === "fail" ? "**fail**" : item.status} | ${cell(item.evidence)} |`,
    ),
    "",
  ];
  if (report.checks.length > 0) {
    lines.push(
      "## Checks",
      "",
      "| check | target | grade | score | source |",
      "| --- | --- | --- | --- | --- |",
    );
    for (const check of report.checks)
      lines.push(
        `| ${check.type} | \`${cell(check.target)}\` | ${check.grade} | ${check.score} | \`${cell(check.source)}\` |`,
      );
    lines.push("");
  }
  const findings = allFindings(report).map(({ item }) => item);
  if (findings.length > 0) {
    lines.push(
      "## Findings",
      "",
      "| severity | id | title | location | evidence | fix |",
      "| --- | --- | --- | --- | --- | --- |",
      ...findings.map(findingRow),
      "",
    );
  }
  if (report.warnings.length > 0)
    lines.push("## Warnings", "", ...report.warnings.map((w) => `- ${cell(w)}`), "");
  lines.push(`Generated ${report.generatedAt}; bulwark ${VERSION}.`, "");
  return lines.join("\n");
}

function readinessHtml(report: ReadinessReport): string {
  const statusBars = (["pass", "fail", "not verified", "not applicable"] as const).map((status) => ({
    label: status,
    value: report.items.filter((item) => item.status === status).length,
    colour: STATUS_COLOUR[status],
  }));
  const findings = allFindings(report).map(({ item }) => item);
  const severityBars = SEVERITIES.map((severity) => ({
    label: severity,
    value: findings.filter((item) => item.severity === severity).length,
    colour: COLOUR[severity],
  }));
  const items = report.items
    .map(
      (item) =>
        `<tr><td>${esc(item.area)}</td><td>${esc(item.title)}</td><td><span class="sev" style="background:${STATUS_COLOUR[item.status]}">${esc(item.status)}</span></td><td>${esc(item.evidence)}</td></tr>`,
    )
    .join("\n");
  const checks = report.checks
    .map(
      (check) =>
        `<tr><td>${esc(check.type)}</td><td><code>${esc(check.target)}</code></td><td>${esc(check.grade)}</td><td>${check.score}</td><td><code>${esc(check.source)}</code></td></tr>`,
    )
    .join("\n");
  const sorted = [...findings].sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  const warnings = report.warnings.map((warning) => `<li>${esc(warning)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>bulwark readiness</title>
<style>
${STYLE}</style></head><body>
<h1>bulwark readiness</h1>
<p class="grade" id="grade">${esc(report.grade)}</p>
<p id="score">${esc(summaryLine(report))}${report.partial ? " — partial (interrupted)" : ""}</p>
<div class="charts">${barChart("checklist", statusBars)}${barChart("findings by severity", severityBars)}</div>
<h2>Checklist</h2>
<table><thead><tr><th>area</th><th>item</th><th>status</th><th>evidence</th></tr></thead><tbody>
${items}
</tbody></table>
${checks ? `<h2>Checks</h2><table><thead><tr><th>check</th><th>target</th><th>grade</th><th>score</th><th>source</th></tr></thead><tbody>\n${checks}\n</tbody></table>` : ""}
<h2>Findings (${findings.length})</h2>
${findings.length > 0 ? `<table><thead><tr><th>severity</th><th>id</th><th>title</th><th>location</th><th>evidence</th><th>fix</th></tr></thead><tbody>\n${findingRowsHtml(sorted)}\n</tbody></table>` : "<p>none</p>"}
${warnings ? `<h2>Warnings</h2><ul>${warnings}</ul>` : ""}
<p><small>generated ${esc(report.generatedAt)}; evidence ${esc(report.evidenceDir)}; bulwark ${esc(VERSION)}</small></p>
</body></html>
`;
}
