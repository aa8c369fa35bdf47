/**
 * `bulwark load URL`: an open-model (--rate) or closed-model (--vus) load run with thresholds.
 * Prints progress and a summary on stderr, writes the JSON summary to --out and to the evidence
 * folder. Ctrl-C stops the run and still writes a summary marked partial.
 */
import { resolve } from "node:path";
import { BulwarkError } from "../../errors.js";
import { ExitCode } from "../../exit-codes.js";
import { buildPlan } from "../../load/plan.js";
import { progressPrinter } from "../../load/progress.js";
import { buildSummary, evidencePath, renderSummary, writeJsonAtomic } from "../../load/report.js";
import { runLoad } from "../../load/run.js";
import { type Command, parseFlags, say } from "../command.js";

const HELP = `usage: bulwark load URL --rate N --duration D [--connections N] [options]
       bulwark load URL --vus N --duration D [options]
       bulwark load URL --preset normal|peak|stress|soak [--vus N] [--duration D] [options]
       bulwark load SCENARIO.yaml [--preset P | --rate N | --vus N --duration D] [options]

Sends load to one URL and measures it (docs/load.md).

  --rate N             open model: N requests per second at fixed intended times; latency is
                       measured from the intended send time (coordinated-omission free, as wrk2)
  --vus N              closed model: N virtual users, each sends, waits for the answer, repeats
  --duration D         how long to send, e.g. 30s, 5m (required unless --preset or the
                       scenario's executor gives it)
  --preset P           normal (100 VUs, 5m), peak (500 VUs, 5m), stress (ramp 0→1000 VUs
                       over 10m), soak (200 VUs, 2h); scale with --vus and --duration
  --connections N      with --rate: most requests in flight (default 100)
  --max-queue N        with --rate: iterations that may wait for a free connection before new
                       ones are dropped (default 2 s of arrivals)
  --timeout D          per-request headers and body timeout (default 30s)
  --method M           request method (default GET)
  --header "K: V"      request header; repeatable
  --body STRING        request body
  --threshold EXPR     pass/fail bar; repeatable: 'p(95)<200ms' 'max<2s' 'error_rate<0.1%'
                       'rps>50' 'dropped==0'
  --out FILE           write the JSON summary to FILE
  --evidence-dir DIR   where the summary is also written (default .bulwark/evidence)
  --no-evidence        do not write the evidence copy

errors: transport failures (connect, timeout, reset, tls, other) and 5xx responses (http).
exit codes: 0 ran and every threshold passed, 1 a threshold failed, 2 usage error,
3 runtime failure, 130 interrupted (Ctrl-C; a partial summary is still written).`;

const FLAGS = {
  rate: { type: "string" },
  preset: { type: "string" },
  vus: { type: "string" },
  duration: { type: "string" },
  connections: { type: "string" },
  "max-queue": { type: "string" },
  timeout: { type: "string" },
  method: { type: "string" },
  header: { type: "string", multiple: true },
  body: { type: "string" },
  threshold: { type: "string", multiple: true },
  out: { type: "string" },
  "evidence-dir": { type: "string" },
  "no-evidence": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export const loadCommand: Command = {
  name: "load",
  help: HELP,
  async run(argv) {
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
    });

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
    let result: Awaited<ReturnType<typeof runLoad>>;
    try {
      result = await runLoad(plan, { signal: interrupt.signal, onProgress: printer.print });
    } finally {
      printer.finish();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }

    const summary = buildSummary(plan, result);
    say(renderSummary(summary));
    if (values.out) {
      writeJsonAtomic(resolve(values.out), summary);
      say(`  summary   ${values.out}`);
    }
    if (!values["no-evidence"]) {
      const file = evidencePath(resolve(values["evidence-dir"] ?? ".bulwark/evidence"), summary);
      writeJsonAtomic(file, summary);
      say(`  evidence  ${file}`);
    }
    if (summary.partial) return ExitCode.Interrupted;
    return summary.ok ? ExitCode.Ok : ExitCode.Failed;
  },
};
