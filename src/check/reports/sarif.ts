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

/**
 * Where a finding is, for SARIF. `prefix`: the repository's path from the SARIF root, when one
 * report covers several repositories (the readiness report).
 */
export function physicalLocation(item: Finding, type: "url" | "repo", prefix = "") {
  if (type === "url") return { artifactLocation: { uri: item.location } };
  // path:line or path:line@commit (history findings)
  const match = /^(.*?):(\d+)(?:@([0-9a-f]+))?$/.exec(item.location);
  const uri = `${prefix}${(match ? match[1]! : item.location).split("\\").join("/")}`;
  return {
    artifactLocation: { uri, uriBaseId: "%SRCROOT%" },
    ...(match ? { region: { startLine: Math.max(1, Number(match[2])) } } : {}),
  };
}

export function sarifRule(id: string) {
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
}

export function sarifResult(
  item: Finding,
  ruleIndex: number,
  location: ReturnType<typeof physicalLocation>,
  prefix = "",
) {
  return {
    ruleId: item.id,
    ruleIndex,
    level: LEVEL[item.severity],
    message: { text: `${item.title}: ${item.evidence}` },
    locations: [{ physicalLocation: location }],
    partialFingerprints: {
      "bulwarkFinding/v1": createHash("sha256")
        .update(`${item.id}\u0000${prefix}${item.location.replace(/:\d+(@|$)/, "$1")}\u0000${item.evidence}`)
        .digest("hex"),
    },
    properties: { severity: item.severity, "security-severity": SECURITY_SEVERITY[item.severity] },
  };
}

export function renderSarif(report: CheckReport): string {
  const ids = [...new Set(report.findings.map((item) => item.id))].sort();
  const rules = ids.map(sarifRule);
  const results = report.findings.map((item) =>
    sarifResult(item, ids.indexOf(item.id), physicalLocation(item, report.target.type)),
  );
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
