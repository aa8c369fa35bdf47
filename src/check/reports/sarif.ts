/**
 * SARIF 2.1.0 for GitHub code scanning (docs: "SARIF support for code scanning"). One rule per
 * finding id, with help text and a `security-severity` property (GitHub maps ≥9.0 to critical,
 * ≥7.0 high, ≥4.0 medium, else low). Repository findings carry a physicalLocation with a
 * repository-relative URI and a start line; live-service findings carry the URL as the
 * artifact location, since code scanning requires a location on every result.
 * partialFingerprints keep alerts stable across runs as the line moves.
 */
import { createHash } from "node:crypto";
import { catalogEntry, type Finding, type Severity } from "../findings.js";
import type { CheckReport } from "../report.js";

const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: "9.5",
  high: "8.0",
  medium: "5.5",
  low: "3.0",
  info: "0.0",
};

const LEVEL: Record<Severity, "error" | "warning" | "note"> = {
  critical: "error",
  high: "error",
  medium: "warning",
  low: "note",
  info: "note",
};

function physicalLocation(item: Finding, report: CheckReport) {
  if (report.target.type === "url") return { artifactLocation: { uri: item.location } };
  // path:line or path:line@commit (history findings)
  const match = /^(.*?):(\d+)(?:@([0-9a-f]+))?$/.exec(item.location);
  const uri = (match ? match[1]! : item.location).split("\\").join("/");
  return {
    artifactLocation: { uri, uriBaseId: "%SRCROOT%" },
    ...(match ? { region: { startLine: Math.max(1, Number(match[2])) } } : {}),
  };
}

export function renderSarif(report: CheckReport): string {
  const ids = [...new Set(report.findings.map((item) => item.id))].sort();
  const rules = ids.map((id) => {
    const entry = catalogEntry(id);
    return {
      id,
      name: id.replace(/(^|-)([a-z])/g, (_m, _d: string, c: string) => c.toUpperCase()),
      shortDescription: { text: entry.title },
      fullDescription: { text: entry.rationale },
      help: {
        text: `${entry.remediation}${entry.gateway ? `\nBulwark gateway: ${entry.gateway}` : ""}`,
        markdown: `**Fix:** ${entry.remediation}${entry.gateway ? `\n\n**Bulwark gateway:** \`${entry.gateway}\`` : ""}${entry.references?.length ? `\n\nReferences: ${entry.references.join(", ")}` : ""}`,
      },
      defaultConfiguration: { level: LEVEL[entry.severity] },
      properties: {
        tags: ["security", entry.category, ...(entry.cwe ? [`external/cwe/cwe-${entry.cwe}`] : [])],
        "security-severity": SECURITY_SEVERITY[entry.severity],
      },
    };
  });
  const results = report.findings.map((item) => ({
    ruleId: item.id,
    ruleIndex: ids.indexOf(item.id),
    level: LEVEL[item.severity],
    message: { text: `${item.title}: ${item.evidence}` },
    locations: [{ physicalLocation: physicalLocation(item, report) }],
    partialFingerprints: {
      "bulwarkFinding/v1": createHash("sha256")
        .update(`${item.id}\u0000${item.location.replace(/:\d+(@|$)/, "$1")}\u0000${item.evidence}`)
        .digest("hex"),
    },
    properties: { severity: item.severity, "security-severity": SECURITY_SEVERITY[item.severity] },
  }));
  const sarif = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "bulwark-check",
            version: report.tool.version,
            semanticVersion: report.tool.version,
            rules,
          },
        },
        invocations: [
          {
            executionSuccessful: true,
            startTimeUtc: report.startedAt,
            endTimeUtc: report.finishedAt,
            toolExecutionNotifications: report.warnings.map((text) => ({
              level: "warning",
              message: { text },
            })),
          },
        ],
        results,
        properties: { score: report.score, grade: report.grade },
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}
