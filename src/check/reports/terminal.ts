/**
 * The terminal report: summary first (grade, score, counts), then findings worst first, then
 * waived findings and warnings. Colour only when the stream is a TTY and NO_COLOR is unset
 * (https://no-color.org).
 */
import type { Severity } from "../findings.js";
import type { CheckReport } from "../report.js";

const COLOURS: Record<Severity | "grade" | "dim" | "reset", string> = {
  critical: "\u001b[1;31m",
  high: "\u001b[31m",
  medium: "\u001b[33m",
  low: "\u001b[36m",
  info: "\u001b[2m",
  grade: "\u001b[1m",
  dim: "\u001b[2m",
  reset: "\u001b[0m",
};

export function renderTerminal(report: CheckReport, options: { colour: boolean }): string {
  const paint = (key: keyof typeof COLOURS, text: string) =>
    options.colour ? `${COLOURS[key]}${text}${COLOURS.reset}` : text;
  const lines: string[] = [];
  const counts = (["critical", "high", "medium", "low", "info"] as const)
    .map((severity) => `${report.counts[severity]} ${severity}`)
    .join(", ");
  lines.push("");
  lines.push(
    `${paint("grade", `grade ${report.grade}`)}  score ${report.score}/100  ${report.target.type} ${report.target.value}`,
  );
  lines.push(`findings: ${counts}${report.waived.length > 0 ? `; ${report.waived.length} waived` : ""}`);
  if (report.scoring.cappedBy)
    lines.push(
      paint("dim", `grade capped by a ${report.scoring.cappedBy} finding (docs/checks.md, "Scoring")`),
    );
  if (report.scoring.bonus > 0)
    lines.push(
      paint("dim", `bonus +${report.scoring.bonus}: ${report.strengths.map((s) => s.title).join("; ")}`),
    );
  const stats = Object.entries(report.stats)
    .map(([key, value]) => `${key} ${value}`)
    .join(", ");
  if (stats) lines.push(paint("dim", stats));
  if (report.findings.length > 0) lines.push("");
  for (const item of report.findings) {
    lines.push(`${paint(item.severity, item.severity.toUpperCase().padEnd(8))} ${item.id}  ${item.title}`);
    lines.push(`         at ${item.location}`);
    if (item.evidence) lines.push(`         ${paint("dim", item.evidence)}`);
    if (item.waiverExpired) lines.push(`         waiver expired on ${item.waiverExpired}`);
    lines.push(
      `         fix: ${item.gateway ? `${item.remediation}; bulwark: ${item.gateway}` : item.remediation}`,
    );
  }
  if (report.waived.length > 0) {
    lines.push("");
    lines.push("waived:");
    for (const item of report.waived)
      lines.push(`  ${item.id} at ${item.location} (until ${item.waiver.expires}: ${item.waiver.reason})`);
  }
  if (report.warnings.length > 0) {
    lines.push("");
    lines.push("warnings:");
    for (const warning of report.warnings) lines.push(`  ${warning}`);
  }
  return lines.join("\n");
}
