/** A Markdown report for pull-request comments and wikis: summary table, then findings. */
import type { CheckReport } from "../report.js";

export function cell(text: string): string {
  return text
    .replace(/\|/g, "\\|")
    .replace(/[\r\n]+/g, " ")
    .replace(/</g, "&lt;");
}

/** A findings-table row: severity, id, title, location, evidence, fix. */
export function findingRow(item: CheckReport["findings"][number]): string {
  const fix = item.gateway ? `${item.remediation}; Bulwark: \`${item.gateway}\`` : item.remediation;
  return `| ${item.severity} | \`${item.id}\` | ${cell(item.title)} | \`${cell(item.location)}\` | ${cell(item.evidence)} | ${cell(fix)} |`;
}

export function renderMarkdown(report: CheckReport): string {
  const lines = [
    `# bulwark check: ${cell(report.target.value)}`,
    "",
    `**Grade ${report.grade}** — score ${report.score}/100 (base ${report.scoring.base}, bonus ${report.scoring.bonus}${report.scoring.cappedBy ? `, capped by a ${report.scoring.cappedBy} finding` : ""})`,
    "",
    "| critical | high | medium | low | info | waived |",
    "| --- | --- | --- | --- | --- | --- |",
    `| ${report.counts.critical} | ${report.counts.high} | ${report.counts.medium} | ${report.counts.low} | ${report.counts.info} | ${report.waived.length} |`,
    "",
  ];
  if (report.findings.length > 0) {
    lines.push(
      "## Findings",
      "",
      "| severity | id | title | location | evidence | fix |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    lines.push(...report.findings.map(findingRow), "");
  }
  if (report.waived.length > 0) {
    lines.push("## Waived", "", "| id | location | reason | until |", "| --- | --- | --- | --- |");
    for (const item of report.waived)
      lines.push(
        `| \`${item.id}\` | \`${cell(item.location)}\` | ${cell(item.waiver.reason)} | ${item.waiver.expires} |`,
      );
    lines.push("");
  }
  if (report.warnings.length > 0) {
    lines.push("## Warnings", "");
    for (const warning of report.warnings) lines.push(`- ${cell(warning)}`);
    lines.push("");
  }
  lines.push(
    `Started ${report.startedAt}, finished ${report.finishedAt}; bulwark ${report.tool.version}.`,
    "",
  );
  return lines.join("\n");
}
