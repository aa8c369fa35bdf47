/** The JSON report is the report object itself: the stable evidence schema (docs/checks.md). */
import type { CheckReport } from "../report.js";

export function renderJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
