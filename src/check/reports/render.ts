/** Picks the renderer for --format and writes --out atomically (src/durable-file.ts). */
import { writeFileDurable } from "../../durable-file.js";
import { BulwarkError } from "../../errors.js";
import type { Severity } from "../findings.js";
import type { CheckReport } from "../report.js";
import { renderHtml } from "./html.js";
import { renderJson } from "./json.js";
import { renderJunit } from "./junit.js";
import { renderMarkdown } from "./markdown.js";
import { renderSarif } from "./sarif.js";
import { renderTerminal } from "./terminal.js";

export const FORMATS = ["text", "json", "sarif", "junit", "markdown", "html"] as const;
export type Format = (typeof FORMATS)[number];

export function render(
  report: CheckReport,
  format: Format,
  options: { colour: boolean; failOn: Severity | "none" },
): string {
  switch (format) {
    case "json":
      return renderJson(report);
    case "sarif":
      return renderSarif(report);
    case "junit":
      return renderJunit(report, options.failOn);
    case "markdown":
      return renderMarkdown(report);
    case "html":
      return renderHtml(report);
    default:
      return `${renderTerminal(report, { colour: options.colour })}\n`;
  }
}

export function writeFileAtomic(file: string, text: string): void {
  try {
    writeFileDurable(file, text, { mode: 0o644, createParents: true });
  } catch (error) {
    throw new BulwarkError("check_report_unwritable", `cannot write ${file}: ${(error as Error).message}`);
  }
}
