/**
 * `bulwark check url URL` and `bulwark check repo DIR`: readiness findings with a score and
 * grade (docs/checks.md). The terminal report goes to stderr; --format json|sarif|junit|markdown|
 * html goes to stdout, or to --out FILE (written atomically). --fail-on sets the exit code.
 */
import { join, resolve } from "node:path";
import { isSeverity, type Severity } from "../../check/findings.js";
import { buildReport, type CheckReport, failsAt, type RawResult } from "../../check/report.js";
import { FORMATS, type Format, render, writeFileAtomic } from "../../check/reports/render.js";
import { loadWaivers, type Waiver } from "../../check/waivers.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark check url URL [options]
       bulwark check repo DIR [options]
       bulwark check readiness [-c bulwark.yaml] [--evidence-dir DIR] [--max-age DAYS] [--strict]

Assesses a live service (url) or a source repository (repo) and prints findings, a score and a
grade (docs/checks.md lists every finding id, the scoring model and the exact requests sent).

output and CI:
  --format F           text (default, on stderr), json, sarif, junit, markdown or html (stdout)
  --out FILE           write the --format output to FILE instead of stdout (atomic)
  --fail-on S          exit 1 when a finding at or above S remains after waivers:
                       critical, high (default), medium, low, or none
  --waivers FILE       YAML waivers: id, optional location pattern, reason, expires (YYYY-MM-DD);
                       an expired waiver no longer applies and is reported
  --evidence-dir DIR   also write the JSON report there (default .bulwark/evidence)
  --no-evidence        do not write the evidence copy

check url:
  --rate N             requests per second, at most (default 10, 1–50)
  --timeout D          per-request timeout, e.g. 5s (default 10s)
  --ca FILE            trust this PEM CA bundle in addition to the system roots
  --http-port N        plain-HTTP port to test the HTTP→HTTPS redirect on (default 80 when the
                       URL uses 443, else the redirect check is not run)
  --probe-rate-limit   opt in to a burst of --burst requests (default 60, at most 300) to see
                       whether a 429 comes

check repo:
  --advisories DIR     offline OSV database (a directory of OSV JSON files) for lockfile checks
  --allowlist FILE     paths and secret values to accept (default DIR/.bulwark-check-allow.yaml)
  --history            also scan git history (git log -p) for secrets
  --history-max-commits N   newest commits to read with --history (default 1000)
  --max-file-size MB   larger files are skipped with a warning (default 8; lockfiles 16×)
  --include-vendor     also scan node_modules, vendor, dist, target and similar folders

check readiness (the launch checklist from evidence records, no probing):
  --evidence-dir DIR   where check, load and drill records are read (default .bulwark/evidence)
  --max-age DAYS       older records verify nothing (default 30)
  --strict             "not verified" items fail too
  -c, --config FILE    also judge the gateway config: valid, HTTPS, header profiles, rate limits

exit codes: 0 no finding at or above --fail-on (readiness: no failed item), 1 findings at or above it, 2 usage error,
3 runtime failure, 130 interrupted (Ctrl-C; the partial report is still written).`;

const FLAGS = {
  format: { type: "string" },
  out: { type: "string" },
  "fail-on": { type: "string" },
  waivers: { type: "string" },
  "evidence-dir": { type: "string" },
  "no-evidence": { type: "boolean" },
  rate: { type: "string" },
  timeout: { type: "string" },
  ca: { type: "string" },
  "http-port": { type: "string" },
  "probe-rate-limit": { type: "boolean" },
  burst: { type: "string" },
  advisories: { type: "string" },
  allowlist: { type: "string" },
  history: { type: "boolean" },
  "history-max-commits": { type: "string" },
  "max-file-size": { type: "string" },
  "include-vendor": { type: "boolean" },
  "max-age": { type: "string" },
  config: { type: "string", short: "c" },
  strict: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function usage(message: string): BulwarkError {
  return new BulwarkError("usage", `${message}; see \`bulwark check --help\``);
}

export function integerFlag(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw usage(`--${name} expects a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

export function durationFlag(name: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!match)
    throw usage(`--${name} expects a duration such as 500ms, 10s or 1m, got ${JSON.stringify(text)}`);
  const value = Number(match[1]) * ({ ms: 1, s: 1000, m: 60_000 }[match[2] ?? "s"] ?? 1000);
  if (value < 100 || value > 600_000) throw usage(`--${name} must be between 100ms and 10m, got ${text}`);
  return value;
}

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

async function readiness(values: Values, extra: readonly string[]): Promise<number> {
  if (extra.length > 0) throw usage(`unexpected argument ${JSON.stringify(extra[0])}`);
  for (const flag of [...REPO_ONLY, ...URL_ONLY, "fail-on", "waivers", "no-evidence"] as const) {
    if (values[flag] !== undefined) throw usage(`--${flag} does not apply to \`bulwark check readiness\``);
  }
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json")
    throw usage(`check readiness supports --format text or json, got ${JSON.stringify(format)}`);
  const { readEvidence } = await import("../../check/readiness/evidence.js");
  const { buildChecklist, renderChecklist } = await import("../../check/readiness/checklist.js");
  const { gatewayConfigItems } = await import("../../check/readiness/gateway-config.js");
  const dir = resolve(values["evidence-dir"] ?? ".bulwark/evidence");
  const report = buildChecklist(readEvidence(dir), {
    evidenceDir: values["evidence-dir"] ?? ".bulwark/evidence",
    maxAgeDays: integerFlag("max-age", values["max-age"], 30, 1, 3650),
    configItems: gatewayConfigItems(values.config),
  });
  const text = format === "json" ? `${JSON.stringify(report, null, 2)}\n` : renderChecklist(report);
  if (values.out) writeFileAtomic(resolve(values.out), text);
  else if (format === "json") process.stdout.write(text);
  else process.stderr.write(text);
  if (values.out || format === "json") say(renderChecklist(report).split("\n").slice(1, 3).join("\n"));
  const failed = report.items.some(
    (item) => item.status === "fail" || (values.strict === true && item.status === "not verified"),
  );
  return failed ? ExitCode.Failed : ExitCode.Ok;
}

const REPO_ONLY = [
  "advisories",
  "allowlist",
  "history",
  "history-max-commits",
  "max-file-size",
  "include-vendor",
] as const;
const URL_ONLY = ["rate", "timeout", "ca", "http-port", "probe-rate-limit", "burst"] as const;

export const checkCommand: Command = {
  name: "check",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseFlags("check", argv, FLAGS, true);
    const [mode, target, ...extra] = positionals;
    if (mode === "readiness") return readiness(values, positionals.slice(1));
    if (mode !== "url" && mode !== "repo")
      throw usage(
        mode === undefined
          ? "give what to check: `bulwark check url URL` or `bulwark check repo DIR`"
          : `unknown check ${JSON.stringify(mode)}: expected url, repo or readiness`,
      );
    if (target === undefined)
      throw usage(mode === "url" ? "give the URL to check" : "give the repository directory to check");
    if (extra.length > 0) throw usage(`unexpected argument ${JSON.stringify(extra[0])}`);
    for (const flag of mode === "url" ? REPO_ONLY : URL_ONLY) {
      if (values[flag] !== undefined)
        throw usage(`--${flag} applies to \`bulwark check ${mode === "url" ? "repo" : "url"}\` only`);
    }
    const format = (values.format ?? "text") as Format;
    if (!FORMATS.includes(format))
      throw usage(`--format expects one of ${FORMATS.join(", ")}, got ${JSON.stringify(values.format)}`);
    const failOnText = values["fail-on"] ?? "high";
    if (failOnText !== "none" && (!isSeverity(failOnText) || failOnText === "info"))
      throw usage(`--fail-on expects critical, high, medium, low or none, got ${JSON.stringify(failOnText)}`);
    const failOn = failOnText as Severity | "none";
    const waivers: Waiver[] = values.waivers ? loadWaivers(values.waivers) : [];

    const startedAt = new Date();
    const interrupt = new AbortController();
    const onSignal = () => {
      if (interrupt.signal.aborted) process.exit(ExitCode.Interrupted);
      say("\ninterrupted; reporting what was checked so far (again to quit at once)");
      interrupt.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const progress = process.stderr.isTTY
      ? (line: string) => process.stderr.write(`\r\u001b[2K${line}`)
      : undefined;
    let raw: RawResult;
    try {
      if (mode === "repo") {
        const { scanRepository } = await import("../../check/scanners/repo-scan.js");
        raw = await scanRepository({
          root: target,
          ...(values.advisories ? { advisoriesDir: values.advisories } : {}),
          ...(values.allowlist ? { allowListFile: values.allowlist } : {}),
          history: values.history === true,
          historyLimits: {
            maxCommits: integerFlag("history-max-commits", values["history-max-commits"], 1000, 1, 1_000_000),
            maxBytes: 256 * 1024 * 1024,
            timeoutMs: 120_000,
          },
          maxFileBytes: integerFlag("max-file-size", values["max-file-size"], 8, 1, 1024) * 1024 * 1024,
          includeVendor: values["include-vendor"] === true,
          onProgress: progress,
          signal: interrupt.signal,
        });
      } else {
        const { scanUrl } = await import("../../check/probes/url-scan.js");
        raw = await scanUrl({
          url: target,
          rate: integerFlag("rate", values.rate, 10, 1, 50),
          timeoutMs: durationFlag("timeout", values.timeout, 10_000),
          ...(values.ca ? { caFile: values.ca } : {}),
          ...(values["http-port"]
            ? { httpPort: integerFlag("http-port", values["http-port"], 80, 1, 65535) }
            : {}),
          rateLimitBurst: values["probe-rate-limit"] ? integerFlag("burst", values.burst, 60, 1, 300) : 0,
          onProgress: progress,
          signal: interrupt.signal,
        });
      }
    } finally {
      if (progress) process.stderr.write("\r\u001b[2K");
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    const report: CheckReport = buildReport(
      { type: mode, value: mode === "repo" ? target : target },
      raw,
      { startedAt, finishedAt: new Date() },
      waivers,
    );

    const colour = process.stderr.isTTY === true && !process.env.NO_COLOR;
    if (format === "text") {
      const text = render(report, "text", { colour: values.out ? false : colour, failOn });
      if (values.out) writeFileAtomic(resolve(values.out), text);
      else process.stderr.write(text);
    } else {
      const text = render(report, format, { colour: false, failOn });
      if (values.out) writeFileAtomic(resolve(values.out), text);
      else process.stdout.write(text);
    }
    if (values.out || format !== "text")
      say(render(report, "text", { colour, failOn }).split("\n").slice(0, 4).join("\n"));
    if (values.out) say(`  report    ${values.out}`);
    if (!values["no-evidence"]) {
      const dir = resolve(values["evidence-dir"] ?? ".bulwark/evidence");
      const file = join(dir, `check-${mode}-${report.startedAt.replace(/[:.]/g, "-")}.json`);
      writeFileAtomic(file, render(report, "json", { colour: false, failOn }));
      say(`  evidence  ${file}`);
    }
    if (report.partial) return ExitCode.Interrupted;
    return failsAt(report, failOn) ? ExitCode.Failed : ExitCode.Ok;
  },
};
