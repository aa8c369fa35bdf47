/**
 * `bulwark load URL`: an open-model (--rate) or closed-model (--vus) load run with thresholds.
 * Prints progress and a summary on stderr, writes the JSON summary to --out and to the evidence
 * folder. Ctrl-C stops the run and still writes a summary marked partial.
 */
import { join, resolve } from "node:path";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { compareSummaries, readSummary, renderComparison } from "../../load/compare.js";
import { findLimit, renderLimit } from "../../load/find-limit.js";
import { mergeFiles } from "../../load/merge.js";
import { buildPlan, type FindLimitSpec, type LoadPlan } from "../../load/plan.js";
import { progressPrinter } from "../../load/progress.js";
import { buildSummary, renderSummary, writeFileAtomic, writeJsonAtomic } from "../../load/report.js";
import { type ReportFormat, renderReport, reportFormat } from "../../load/report-documents.js";
import { runLoad } from "../../load/run.js";
import { memorySource } from "../../load/target-memory.js";
import { type Command, parseFlags, say, warn } from "../command.js";

const HELP = `usage: bulwark load URL --rate N --duration D [--connections N] [options]
       bulwark load URL --vus N --duration D [options]
       bulwark load URL --preset normal|peak|stress|soak [--vus N] [--duration D] [options]
       bulwark load SCENARIO.yaml [--preset P | --rate N | --vus N --duration D] [options]
       bulwark load URL|SCENARIO.yaml --find-limit --rate START [--step N] [--step-duration D]
                    [--max-rate N] [--threshold SLO]…
       bulwark load compare BASE.json NEW.json [--max-regression 10%] [--max-error-increase 0.1%]
                    [--alpha 0.01] [--out FILE]
       bulwark load merge A.json B.json… [--out FILE] [--report FILE]

Sends load to one URL and measures it (docs/load.md).

  --rate N             open model: N requests per second at fixed intended times; latency is
                       measured from the intended send time (coordinated-omission free, as wrk2)
  --vus N              closed model: N virtual users, each sends, waits for the answer, repeats
  --duration D         how long to send, e.g. 30s, 5m (required unless --preset or the
                       scenario's executor gives it)
  --preset P           normal (100 VUs, 5m), peak (500 VUs, 5m), soak (200 VUs, 2h): scale
                       with --vus and --duration; stress: --find-limit in 10 steps up to
                       1000/s over 10m, stopping at the breaking point (--rate sets the top)
  --find-limit         raise the arrival rate in steps until the SLO (--threshold; default
                       'p(99)<1s' 'error_rate<1%') breaks; report the highest sustainable rate
  --step N             with --find-limit: rate added per step (default: the --rate)
  --step-duration D    with --find-limit: length of each step (default 10s)
  --max-rate N         with --find-limit: last step (default: 50 steps)
  --workers N|auto     split the run across N worker threads (auto: one per core), each with
                       its share of the rate or VUs and of --connections (default 1)
  --connections N      with --rate: most requests in flight (default 100)
  --max-queue N        with --rate: iterations that may wait for a free connection before new
                       ones are dropped (default 2 s of arrivals)
  --timeout D          per-request headers and body timeout (default 30s)
  --method M           request method (default GET)
  --header "K: V"      request header; repeatable
  --body STRING        request body
  --ca FILE            HTTPS target: trust the PEM certificates in FILE (a private CA, a
                       self-signed certificate) instead of the system's CAs
  --insecure           HTTPS target: do not verify its certificate at all (a throwaway test
                       server; prefer --ca)
  --http2              HTTPS target: offer HTTP/2 in the TLS handshake (the server picks;
                       one stream at a time per connection, as a VU)
  --threshold EXPR     pass/fail bar; repeatable: [NAME:] METRIC OP VALUE [over D] [abortOnFail]
                       'p(95)<200ms' 'max<2s' 'error_rate<0.1%' 'rps>50' 'dropped==0'
                       'login: p(99)<500ms' 'p(95)<200ms over 30s' 'error_rate<1% abortOnFail'
                       'service_p(95)<200ms' (service time, as k6's http_req_duration)
                       'drifting==0' (no p99, error-rate or target-memory drift; soak gate)
  --target-pid PID     soak analysis: sample the target's memory (VmRSS, /proc/PID/status)
                       every interval and flag upward drift
  --prom-metric URL#M  the same from a Prometheus text endpoint, e.g.
                       http://127.0.0.1:9090/metrics#process_resident_memory_bytes
  --out FILE           write the JSON summary to FILE
  --report FILE        also write a report: FILE.md (Markdown) or FILE.html (self-contained,
                       with latency, throughput, errors and generator charts); repeatable
  --html FILE          a self-contained HTML report at FILE, whatever its name
  --markdown FILE      a Markdown report at FILE, whatever its name
  --evidence-dir DIR   where the summary is also written (default .bulwark/evidence)
  --no-evidence        do not write the evidence copy

errors: transport failures (connect, timeout, reset, tls, other) and 5xx responses (http).

merge: one summary from several generators run side by side (each with part of the rate);
histograms are merged exactly, counts and rps summed, whole-run thresholds evaluated again.

compare: side by side with deltas; a one-sided Mann-Whitney U test on the per-interval p95s
(and rps) and a two-proportion z-test on error rates say whether NEW is a significant
regression (p < --alpha and beyond --max-regression / --max-error-increase); exit 1 if so.

exit codes: 0 ran and every threshold passed (find-limit: a sustainable rate was found),
1 a threshold failed or abortOnFail stopped the run (find-limit: not even the first step held),
2 usage error, 3 runtime failure, 130 interrupted (Ctrl-C; a partial summary is still written).
A run whose generator was the bottleneck is marked valid: false and INVALID (docs/load.md).`;

const FLAGS = {
  rate: { type: "string" },
  preset: { type: "string" },
  vus: { type: "string" },
  duration: { type: "string" },
  connections: { type: "string" },
  workers: { type: "string" },
  "max-queue": { type: "string" },
  timeout: { type: "string" },
  ca: { type: "string" },
  insecure: { type: "boolean" },
  http2: { type: "boolean" },
  method: { type: "string" },
  header: { type: "string", multiple: true },
  body: { type: "string" },
  threshold: { type: "string", multiple: true },
  out: { type: "string" },
  "evidence-dir": { type: "string" },
  "no-evidence": { type: "boolean" },
  "find-limit": { type: "boolean" },
  "target-pid": { type: "string" },
  report: { type: "string", multiple: true },
  html: { type: "string", multiple: true },
  markdown: { type: "string", multiple: true },
  "prom-metric": { type: "string" },
  step: { type: "string" },
  "step-duration": { type: "string" },
  "max-rate": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const loadCommand: Command = {
  name: "load",
  help: HELP,
  async run(argv) {
    if (argv[0] === "compare") return compare(argv.slice(1));
    if (argv[0] === "merge") return merge(argv.slice(1));
    const { values, positionals } = parseFlags("load", argv, FLAGS, true);
    if (positionals.length > 1) {
      throw new BulwarkError(
        "usage",
        `give one target URL or scenario file, got ${positionals.length}; see \`bulwark load --help\``,
      );
    }
    const plan = buildPlan({
      target: positionals[0],
      rate: values.rate,
      vus: values.vus,
      duration: values.duration,
      connections: values.connections,
      maxQueue: values["max-queue"],
      timeout: values.timeout,
      method: values.method,
      headers: values.header,
      body: values.body,
      thresholds: values.threshold,
      preset: values.preset,
      findLimit: values["find-limit"],
      step: values.step,
      stepDuration: values["step-duration"],
      maxRate: values["max-rate"],
      workers: values.workers,
      insecure: values.insecure,
      ca: values.ca,
      http2: values.http2,
    });
    if (plan.tls?.insecure)
      warn(
        "the target's TLS certificate is not verified (insecure): anyone on the path could answer instead",
      );

    const memory = memorySource({ targetPid: values["target-pid"], promMetric: values["prom-metric"] });
    // Checked before anything is sent, so a typo does not cost a whole soak.
    const reports = reportsOf(values);

    const interrupt = new AbortController();
    const onSignal = () => {
      if (interrupt.signal.aborted) process.exit(ExitCode.Interrupted);
      say(
        "\ninterrupted; finishing in-flight requests and writing a partial summary (again to quit at once)",
      );
      interrupt.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const printer = progressPrinter();
    const detach = () => {
      printer.finish();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    };
    if (plan.findLimit) {
      let limit: Awaited<ReturnType<typeof findLimit>>;
      try {
        limit = await findLimit(plan as LoadPlan & { findLimit: FindLimitSpec }, {
          signal: interrupt.signal,
          onProgress: printer.print,
          memory,
          onStep: (step) => {
            printer.finish();
            say(
              `  step ${step.rate}/s: achieved ${step.achievedRps}/s, p99 ${step.latency.p99 ?? "n/a"}ms, errors ${step.errors}, dropped ${step.dropped} — ${step.sustainable && step.valid ? "holds" : "breaks"}`,
            );
          },
        });
      } finally {
        detach();
      }
      say(renderLimit(limit));
      writeOutputs(values, limit, `load-limit-${fileTime(limit.startedAt)}.json`, reports);
      if (limit.partial) return ExitCode.Interrupted;
      return limit.limit === null ? ExitCode.Failed : ExitCode.Ok;
    }
    let result: Awaited<ReturnType<typeof runLoad>>;
    try {
      result = await runLoad(plan, { signal: interrupt.signal, onProgress: printer.print, memory });
    } finally {
      detach();
    }

    const summary = buildSummary(plan, result);
    say(renderSummary(summary));
    writeOutputs(values, summary, `load-${fileTime(summary.startedAt)}.json`, reports);
    // An abortOnFail stop is a failed threshold, not an interruption.
    if (summary.abortedBy) return ExitCode.Failed;
    if (summary.partial) return ExitCode.Interrupted;
    return summary.ok ? ExitCode.Ok : ExitCode.Failed;
  },
};

/** --report (format from the extension), --html and --markdown, in one list. */
function reportsOf(values: { report?: string[]; html?: string[]; markdown?: string[] }) {
  return [
    ...(values.report ?? []).map((file) => ({ file, format: reportFormat(file) })),
    ...(values.html ?? []).map((file) => ({ file, format: "html" as const })),
    ...(values.markdown ?? []).map((file) => ({ file, format: "md" as const })),
  ];
}

/** --out, --report files and the evidence copy, all atomic. */
function writeOutputs(
  values: {
    out?: string | undefined;
    "evidence-dir"?: string | undefined;
    "no-evidence"?: boolean | undefined;
  },
  document: Parameters<typeof renderReport>[0],
  evidenceName: string,
  reports: readonly { file: string; format: ReportFormat }[],
): void {
  for (const report of reports) {
    writeFileAtomic(resolve(report.file), renderReport(document, report.format));
    say(`  report    ${report.file}`);
  }
  if (values.out) {
    writeJsonAtomic(resolve(values.out), document);
    say(`  summary   ${values.out}`);
  }
  if (!values["no-evidence"]) {
    const file = join(resolve(values["evidence-dir"] ?? ".bulwark/evidence"), evidenceName);
    writeJsonAtomic(file, document);
    say(`  evidence  ${file}`);
  }
}

/** An ISO time made file-name safe: `:` and `.` become `-`. */
function fileTime(iso: string): string {
  return iso.replace(/[:.]/g, "-");
}

const COMPARE_FLAGS = {
  "max-regression": { type: "string" },
  "max-error-increase": { type: "string" },
  alpha: { type: "string" },
  out: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `bulwark load compare BASE.json NEW.json`: exit 1 on a significant regression. */
async function compare(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags("load compare", argv, COMPARE_FLAGS, true);
  if (values.help) {
    say(HELP);
    return ExitCode.Ok;
  }
  if (positionals.length !== 2)
    throw new BulwarkError(
      "usage",
      `load compare needs two summaries, BASE.json and NEW.json, got ${positionals.length}; see \`bulwark load --help\``,
    );
  const [baseFile, newFile] = positionals as [string, string];
  const options = {
    alpha: fraction("--alpha", values.alpha, 0.01, false),
    maxRegression: fraction("--max-regression", values["max-regression"], 0.1, true),
    maxErrorIncrease: fraction("--max-error-increase", values["max-error-increase"], 0.001, true),
  };
  if (!(options.alpha > 0 && options.alpha < 0.5))
    throw new BulwarkError("usage", "--alpha: expected a significance level between 0 and 0.5, e.g. 0.01");
  const comparison = compareSummaries(
    readSummary(baseFile),
    readSummary(newFile),
    { base: baseFile, new: newFile },
    options,
  );
  say(renderComparison(comparison));
  if (values.out) {
    writeJsonAtomic(resolve(values.out), comparison);
    say(`  comparison ${values.out}`);
  }
  return comparison.regression ? ExitCode.Failed : ExitCode.Ok;
}

/** "10%" or "0.1" → 0.1; the default when absent. */
function fraction(flag: string, text: string | undefined, fallback: number, percentAllowed: boolean): number {
  if (text === undefined) return fallback;
  const percent = percentAllowed && text.trim().endsWith("%");
  const digits = percent ? text.trim().slice(0, -1) : text.trim();
  if (!/^\d+(\.\d+)?$/.test(digits))
    throw new BulwarkError(
      "usage",
      `${flag}: expected ${percentAllowed ? "a percentage like 10% or a fraction like 0.1" : "a number like 0.01"}, got ${JSON.stringify(text)}`,
    );
  return percent ? Number(digits) / 100 : Number(digits);
}

const MERGE_FLAGS = {
  out: { type: "string" },
  report: { type: "string", multiple: true },
  html: { type: "string", multiple: true },
  markdown: { type: "string", multiple: true },
  "evidence-dir": { type: "string" },
  "no-evidence": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** `bulwark load merge A.json B.json …`: one summary from several generators' summaries. */
async function merge(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags("load merge", argv, MERGE_FLAGS, true);
  if (values.help) {
    say(HELP);
    return ExitCode.Ok;
  }
  const reports = reportsOf(values);
  const summary = mergeFiles(positionals);
  say(`merged ${positionals.length} summaries: ${positionals.join(", ")}`);
  say(renderSummary(summary));
  writeOutputs(values, summary, `load-${fileTime(summary.startedAt)}-merged.json`, reports);
  return summary.ok ? ExitCode.Ok : ExitCode.Failed;
}
