/**
 * A self-contained HTML report: no external script, style or font, so it opens from a CI artifact
 * offline and under a strict CSP. Charts are inline SVG (findings per severity, per category).
 */
import { SEVERITIES, type Severity } from "../findings.js";
import type { CheckReport } from "../report.js";
import { xmlEscape as esc } from "./junit.js";

export const COLOUR: Record<Severity, string> = {
  critical: "#8b0000",
  high: "#d9480f",
  medium: "#e8a400",
  low: "#1c7ed6",
  info: "#868e96",
};

export function barChart(
  title: string,
  bars: readonly { label: string; value: number; colour: string }[],
): string {
  const width = 420;
  const rowHeight = 22;
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const rows = bars
    .map((bar, index) => {
      const y = index * rowHeight;
      const length = Math.round((bar.value / max) * (width - 170));
      return `<text x="0" y="${y + 15}">${esc(bar.label)}</text><rect x="110" y="${y + 3}" width="${length}" height="16" fill="${bar.colour}"/><text x="${116 + length}" y="${y + 15}">${bar.value}</text>`;
    })
    .join("");
  return `<figure><figcaption>${esc(title)}</figcaption><svg role="img" aria-label="${esc(title)}" width="${width}" height="${bars.length * rowHeight}" font-size="13" font-family="sans-serif">${rows}</svg></figure>`;
}

/** The report pages' stylesheet (inline: the page loads nothing). */
export const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;color:#212529}
.grade{font-size:3rem;font-weight:700;margin:0}
.charts{display:flex;gap:2rem;flex-wrap:wrap}
figure{margin:0}figcaption{font-weight:600;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin-top:1rem}th,td{border:1px solid #dee2e6;padding:.35rem;text-align:left;vertical-align:top;font-size:.9rem}
.sev{color:#fff;padding:0 .4rem;border-radius:3px}
code{overflow-wrap:anywhere}
td:nth-child(2){white-space:nowrap}
`;

/** Table rows for findings: severity, id, title, location, evidence, fix. */
export function findingRowsHtml(findings: CheckReport["findings"]): string {
  return findings
    .map(
      (item) =>
        `<tr><td><span class="sev" style="background:${COLOUR[item.severity]}">${item.severity}</span></td><td><code>${esc(item.id)}</code></td><td>${esc(item.title)}</td><td><code>${esc(item.location)}</code></td><td>${esc(item.evidence)}${item.waiverExpired ? `<br><em>waiver expired ${esc(item.waiverExpired)}</em>` : ""}</td><td>${esc(item.remediation)}${item.gateway ? `<br>Bulwark: <code>${esc(item.gateway)}</code>` : ""}</td></tr>`,
    )
    .join("\n");
}

export function renderHtml(report: CheckReport): string {
  const severityBars = SEVERITIES.map((severity) => ({
    label: severity,
    value: report.counts[severity],
    colour: COLOUR[severity],
  }));
  const categories = new Map<string, number>();
  for (const item of report.findings) categories.set(item.category, (categories.get(item.category) ?? 0) + 1);
  const categoryBars = [...categories.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([label, value]) => ({ label, value, colour: "#495057" }));
  const rows = findingRowsHtml(report.findings);
  const waived = report.waived
    .map(
      (item) =>
        `<tr><td><code>${esc(item.id)}</code></td><td><code>${esc(item.location)}</code></td><td>${esc(item.waiver.reason)}</td><td>${esc(item.waiver.expires)}</td></tr>`,
    )
    .join("\n");
  const warnings = report.warnings.map((warning) => `<li>${esc(warning)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>bulwark check: ${esc(report.target.value)}</title>
<style>
${STYLE}</style></head><body>
<h1>bulwark check</h1>
<p>${esc(report.target.type)} <code>${esc(report.target.value)}</code></p>
<p class="grade" id="grade">${esc(report.grade)}</p>
<p id="score">score ${report.score}/100 (base ${report.scoring.base}, bonus ${report.scoring.bonus}${report.scoring.cappedBy ? `, capped by a ${esc(report.scoring.cappedBy)} finding` : ""})</p>
<div class="charts">${barChart("findings by severity", severityBars)}${categoryBars.length > 0 ? barChart("findings by category", categoryBars) : ""}</div>
<h2>Findings (${report.findings.length})</h2>
${report.findings.length > 0 ? `<table><thead><tr><th>severity</th><th>id</th><th>title</th><th>location</th><th>evidence</th><th>fix</th></tr></thead><tbody>\n${rows}\n</tbody></table>` : "<p>none</p>"}
${report.waived.length > 0 ? `<h2>Waived (${report.waived.length})</h2><table><thead><tr><th>id</th><th>location</th><th>reason</th><th>until</th></tr></thead><tbody>${waived}</tbody></table>` : ""}
${warnings ? `<h2>Warnings</h2><ul>${warnings}</ul>` : ""}
<p><small>started ${esc(report.startedAt)}, finished ${esc(report.finishedAt)}; bulwark ${esc(report.tool.version)}</small></p>
</body></html>
`;
}
