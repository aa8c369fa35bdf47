/**
 * `bulwark check url URL` and `bulwark check repo DIR`: readiness findings with a score and
 * grade (docs/checks.md). `bulwark check` (or `check readiness`): the launch checklist, after
 * running the checks bulwark.yaml's `readiness:` section configures. The terminal report goes to
 * stderr; --format json|sarif|junit|markdown|html goes to stdout, or to --out FILE (written
 * atomically). --fail-on sets the exit code.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { isSeverity, type Severity } from "../../check/findings.js";
import { type CheckReport, failsAt } from "../../check/report.js";
import { FORMATS, type Format, render, writeFileAtomic } from "../../check/reports/render.js";
import { runCheck, writeEvidenceRecord } from "../../check/run-check.js";
import { DEFAULT_NPM_REGISTRY } from "../../check/scanners/npm-advisories.js";
import { loadWaivers, type Waiver } from "../../check/waivers.js";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark check url URL [options]
       bulwark check repo DIR [options]
       bulwark check [readiness] [-c bulwark.yaml] [options]

Assesses a live service (url) or a source repository (repo) and prints findings, a score and a
grade (docs/checks.md lists every finding id, the scoring model and the exact requests sent).
Without url or repo: the launch checklist. It runs the checks the config file's readiness:
section configures (URLs and repositories, with their options), judges the gateway config in
the same file, reads the load-test and restore-drill evidence, and prints one report.

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
  --npm-audit          also ask the npm registry's bulk advisory endpoint about npm packages
                       (opt-in: sends their names and versions to the registry)
  --npm-registry URL   registry asked by --npm-audit (default https://registry.npmjs.org/)
  --allowlist FILE     paths and secret values to accept (default DIR/.bulwark-check-allow.yaml)
  --history            also scan git history (git log -p) for secrets
  --history-max-commits N   newest commits to read with --history (default 1000)
  --max-file-size MB   larger files are skipped with a warning (default 8; lockfiles 16×)
  --include-vendor     also scan node_modules, vendor, dist, target and similar folders

check [readiness] (the launch checklist):
  -c, --config FILE    config file (default bulwark.yaml when it exists): its readiness: section
                       says what to run; its gateway config is judged (valid, HTTPS, header
                       profiles, rate limits)
  --no-run             run nothing: judge the evidence folder and the config only
  --evidence-dir DIR   where check, load and drill records are read (default .bulwark/evidence)
  --max-age DAYS       older records verify nothing (default 30)
  --strict             "not verified" items fail too
  every url/repo option above, --fail-on, --waivers and --no-evidence override the readiness
  section's value for every configured target of their kind

exit codes: 0 no finding at or above --fail-on (readiness: no failed item), 1 findings at or
above it (readiness: a failed item), 2 usage or config error, 3 runtime failure, 130 interrupted
(Ctrl-C; the partial report is still written).`;

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
  "npm-audit": { type: "boolean" },
  "npm-registry": { type: "string" },
  allowlist: { type: "string" },
  history: { type: "boolean" },
  "history-max-commits": { type: "string" },
  "max-file-size": { type: "string" },
  "include-vendor": { type: "boolean" },
  "max-age": { type: "string" },
  config: { type: "string", short: "c" },
  strict: { type: "boolean" },
  "no-run": { type: "boolean" },
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

function failOnFlag(text: string | undefined): Exclude<Severity, "info"> | "none" | undefined {
  if (text === undefined) return undefined;
  if (text !== "none" && (!isSeverity(text) || text === "info"))
    throw usage(`--fail-on expects critical, high, medium, low or none, got ${JSON.stringify(text)}`);
  return text as Exclude<Severity, "info"> | "none";
}

function formatFlag(text: string | undefined): Format {
  const format = (text ?? "text") as Format;
  if (!FORMATS.includes(format))
    throw usage(`--format expects one of ${FORMATS.join(", ")}, got ${JSON.stringify(text)}`);
  return format;
}

function registryFlag(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const url = new URL(text);
    if (url.protocol === "http:" || url.protocol === "https:") return text;
  } catch {}
  throw usage(`--npm-registry expects an http(s) URL, got ${JSON.stringify(text)}`);
}

/**
 * Ctrl-C (or SIGTERM) aborts `signal`: the run stops sending, reports what it saw and is marked
 * partial; a second Ctrl-C exits at once.
 */
async function interruptible<T>(
  run: (signal: AbortSignal, progress: ((line: string) => void) | undefined) => Promise<T>,
): Promise<T> {
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
  try {
    return await run(interrupt.signal, progress);
  } finally {
    if (progress) process.stderr.write("\r\u001b[2K");
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Writes `text` to --out, else to stdout (machine formats) or stderr (the terminal report). */
function emit(text: string, format: Format, out: string | undefined): void {
  if (out) writeFileAtomic(resolve(out), text);
  else if (format === "text") process.stderr.write(text);
  else process.stdout.write(text);
}

/** One GET per team item URL (readiness.items), bounded like a check url request. */
const TEAM_ITEM_TIMEOUT_MS = 10_000;

async function readiness(values: Values, extra: readonly string[]): Promise<number> {
  if (extra.length > 0) throw usage(`unexpected argument ${JSON.stringify(extra[0])}`);
  const format = formatFlag(values.format);
  const { readConfigDocument } = await import("../../config/section.js");
  const { loadReadinessSection } = await import("../../check/readiness/config-section.js");
  const { readinessSchema } = await import("../../check/readiness/schema.js");
  const { runConfiguredChecks, withOverrides } = await import("../../check/readiness/run-configured.js");
  const { readEvidence } = await import("../../check/readiness/evidence.js");
  const { buildChecklist, renderChecklist } = await import("../../check/readiness/checklist.js");
  const { gatewayConfigItems } = await import("../../check/readiness/gateway-config.js");
  const { renderReadiness } = await import("../../check/readiness/render.js");
  const { judgeTeamItems } = await import("../../check/readiness/team-items.js");

  // The config file: -c, else ./bulwark.yaml when it exists (as the issue's "reads bulwark.yaml").
  const configFile = values.config ?? (existsSync("bulwark.yaml") ? "bulwark.yaml" : undefined);
  const document = configFile ? readConfigDocument(configFile) : undefined;
  const section = document ? loadReadinessSection(document) : undefined;
  const fromFlags = (path: string | undefined) => (path === undefined ? undefined : resolve(path));
  const maxFileSize = values["max-file-size"];
  const config = withOverrides(section ?? readinessSchema.parse({}), {
    url: {
      rate: values.rate === undefined ? undefined : integerFlag("rate", values.rate, 10, 1, 50),
      timeout: values.timeout === undefined ? undefined : durationFlag("timeout", values.timeout, 10_000),
      ca: fromFlags(values.ca),
      httpPort:
        values["http-port"] === undefined
          ? undefined
          : integerFlag("http-port", values["http-port"], 80, 1, 65535),
      probeRateLimit: values["probe-rate-limit"],
      burst: values.burst === undefined ? undefined : integerFlag("burst", values.burst, 60, 1, 300),
    },
    repo: {
      advisories: fromFlags(values.advisories),
      npmAudit: values["npm-audit"],
      npmRegistry: registryFlag(values["npm-registry"]),
      allowlist: fromFlags(values.allowlist),
      history: values.history,
      historyMaxCommits:
        values["history-max-commits"] === undefined
          ? undefined
          : integerFlag("history-max-commits", values["history-max-commits"], 1000, 1, 1_000_000),
      maxFileSize:
        maxFileSize === undefined
          ? undefined
          : integerFlag("max-file-size", maxFileSize, 8, 1, 1024) * 1024 * 1024,
      includeVendor: values["include-vendor"],
    },
    failOn: failOnFlag(values["fail-on"]),
    waivers: fromFlags(values.waivers),
    evidenceDir: fromFlags(values["evidence-dir"]) ?? (section ? undefined : resolve(".bulwark/evidence")),
    writeEvidence: values["no-evidence"] ? false : undefined,
    maxAgeDays:
      values["max-age"] === undefined ? undefined : integerFlag("max-age", values["max-age"], 30, 1, 3650),
    strict: values.strict,
  });
  // A target flag without a target to apply it to is a mistake worth a message, not a no-op.
  const noRun = values["no-run"] === true;
  for (const [flags, targets, key] of [
    [URL_ONLY, config.urls.length, "urls"],
    [REPO_ONLY, config.repos.length, "repos"],
  ] as const) {
    const given = flags.find((flag) => values[flag] !== undefined);
    if (given && (targets === 0 || noRun))
      throw usage(
        noRun
          ? `--${given} does not apply with --no-run`
          : `--${given} applies to configured targets, and ${configFile ? `${configFile} has no readiness.${key}` : "there is no config file"}; use \`bulwark check ${key === "urls" ? "url URL" : "repo DIR"}\` for a single check`,
      );
  }

  const run = noRun
    ? { records: [], reports: [], warnings: [], partial: false }
    : await interruptible((signal, progress) =>
        runConfiguredChecks(config, {
          signal,
          onProgress: progress,
          onReport: (report, file) =>
            say(
              `check ${report.target.type} ${report.target.value}: grade ${report.grade}, score ${report.score}${file ? ` (evidence ${file})` : ""}`,
            ),
        }),
      );
  const teamItems = await judgeTeamItems(config.items, { fetch: !noRun, timeoutMs: TEAM_ITEM_TIMEOUT_MS });
  const evidenceLabel = section || values["evidence-dir"] ? config.evidenceDir : ".bulwark/evidence";
  const report = buildChecklist(readEvidence(config.evidenceDir), {
    evidenceDir: evidenceLabel,
    maxAgeDays: config.maxAgeDays,
    configItems:
      section && !config.gatewayConfig
        ? gatewayConfigItems(undefined).map((item) => ({
            ...item,
            evidence: "readiness.gatewayConfig is false",
          }))
        : gatewayConfigItems(configFile, document?.raw),
    ...(configFile ? { config: configFile } : {}),
    current: run.records,
    teamItems,
    notApplicable: config.notApplicable,
    partial: run.partial,
    warnings: run.warnings,
  });
  emit(renderReadiness(report, format, { failOn: config.failOn, strict: config.strict }), format, values.out);
  if (values.out || format !== "text") say(renderChecklist(report).split("\n").slice(1, 3).join("\n"));
  if (values.out) say(`  report    ${values.out}`);
  if (report.partial) return ExitCode.Interrupted;
  const failed = report.items.some(
    (item) => item.status === "fail" || (config.strict && item.status === "not verified"),
  );
  const severe = run.reports.filter((check) => failsAt(check, config.failOn));
  for (const check of severe)
    say(
      `  fail-on   check ${check.target.type} ${check.target.value} has findings at or above ${config.failOn}`,
    );
  return failed || severe.length > 0 ? ExitCode.Failed : ExitCode.Ok;
}

const REPO_ONLY = [
  "advisories",
  "npm-audit",
  "npm-registry",
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
    if (mode === undefined || mode === "readiness") return readiness(values, positionals.slice(1));
    if (mode !== "url" && mode !== "repo")
      throw usage(`unknown check ${JSON.stringify(mode)}: expected url, repo or readiness`);
    if (target === undefined)
      throw usage(mode === "url" ? "give the URL to check" : "give the repository directory to check");
    if (extra.length > 0) throw usage(`unexpected argument ${JSON.stringify(extra[0])}`);
    for (const flag of mode === "url" ? REPO_ONLY : URL_ONLY) {
      if (values[flag] !== undefined)
        throw usage(`--${flag} applies to \`bulwark check ${mode === "url" ? "repo" : "url"}\` only`);
    }
    for (const flag of ["config", "no-run", "max-age", "strict"] as const) {
      if (values[flag] !== undefined) throw usage(`--${flag} applies to \`bulwark check readiness\` only`);
    }
    const format = formatFlag(values.format);
    const failOn = failOnFlag(values["fail-on"]) ?? "high";
    const waivers: Waiver[] = values.waivers ? loadWaivers(values.waivers) : [];
    const npmRegistry = registryFlag(values["npm-registry"]);
    if (npmRegistry && !values["npm-audit"]) throw usage("--npm-registry needs --npm-audit");

    const report: CheckReport = await interruptible((signal, progress) =>
      mode === "repo"
        ? runCheck(
            {
              type: "repo",
              options: {
                root: target,
                ...(values.advisories ? { advisoriesDir: values.advisories } : {}),
                ...(values["npm-audit"]
                  ? { npmAudit: { registry: npmRegistry ?? DEFAULT_NPM_REGISTRY } }
                  : {}),
                ...(values.allowlist ? { allowListFile: values.allowlist } : {}),
                history: values.history === true,
                historyLimits: {
                  maxCommits: integerFlag(
                    "history-max-commits",
                    values["history-max-commits"],
                    1000,
                    1,
                    1_000_000,
                  ),
                  maxBytes: 256 * 1024 * 1024,
                  timeoutMs: 120_000,
                },
                maxFileBytes: integerFlag("max-file-size", values["max-file-size"], 8, 1, 1024) * 1024 * 1024,
                includeVendor: values["include-vendor"] === true,
                onProgress: progress,
                signal,
              },
            },
            { type: "repo", value: target },
            waivers,
          )
        : runCheck(
            {
              type: "url",
              options: {
                url: target,
                rate: integerFlag("rate", values.rate, 10, 1, 50),
                timeoutMs: durationFlag("timeout", values.timeout, 10_000),
                ...(values.ca ? { caFile: values.ca } : {}),
                ...(values["http-port"]
                  ? { httpPort: integerFlag("http-port", values["http-port"], 80, 1, 65535) }
                  : {}),
                rateLimitBurst: values["probe-rate-limit"]
                  ? integerFlag("burst", values.burst, 60, 1, 300)
                  : 0,
                onProgress: progress,
                signal,
              },
            },
            { type: "url", value: target },
            waivers,
          ),
    );

    const colour = process.stderr.isTTY === true && !process.env.NO_COLOR;
    emit(
      render(report, format, { colour: format === "text" && !values.out && colour, failOn }),
      format,
      values.out,
    );
    if (values.out || format !== "text")
      say(render(report, "text", { colour, failOn }).split("\n").slice(0, 4).join("\n"));
    if (values.out) say(`  report    ${values.out}`);
    if (!values["no-evidence"]) {
      const file = writeEvidenceRecord(values["evidence-dir"] ?? ".bulwark/evidence", report);
      say(`  evidence  ${file}`);
    }
    if (report.partial) return ExitCode.Interrupted;
    return failsAt(report, failOn) ? ExitCode.Failed : ExitCode.Ok;
  },
};
