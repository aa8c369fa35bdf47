/**
 * A load run's plan: what to send, how (open or closed model), for how long, and the bars it
 * must pass. Built once from CLI input (parse at the edge); everything after receives it frozen.
 */
import { availableParallelism } from "node:os";
import { parseDuration } from "../config/units.js";
import { BulwarkError } from "../errors.js";
import { loadScenarioFile, type Scenario } from "./scenario.js";
import type { Stage } from "./stages.js";
import { chooseTargetTls, type TargetTls, TlsChoiceError } from "./target-tls.js";
import { parseThreshold, type Threshold } from "./thresholds.js";
import { maxWorkersFor } from "./worker-share.js";

export interface RequestSpec {
  /** The target URL with any user:password removed, for reports. */
  readonly displayUrl: string;
  readonly origin: string;
  /** Path and query. */
  readonly path: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
}

/** Open model: iterations start at fixed intended times, whatever the target does. */
export interface ArrivalRateExecutor {
  readonly kind: "constant-arrival-rate";
  /** Iterations per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Most requests in flight at once (one keep-alive connection each). */
  readonly connections: number;
  /** Most iterations waiting for a free connection; one more arriving is dropped. */
  readonly maxQueue: number;
}

/** Closed model: each virtual user sends, waits for the answer, and sends again. */
export interface ConstantVusExecutor {
  readonly kind: "constant-vus";
  readonly vus: number;
  readonly durationMs: number;
}

/** Closed model whose VU count follows stages linearly (k6 ramping-vus). */
export interface RampingVusExecutor {
  readonly kind: "ramping-vus";
  readonly startVus: number;
  readonly stages: readonly Stage[];
  readonly durationMs: number;
}

/** Open model whose rate follows stages linearly (k6 ramping-arrival-rate). */
export interface RampingArrivalRateExecutor {
  readonly kind: "ramping-arrival-rate";
  /** Iterations per second at the start. */
  readonly startRate: number;
  readonly stages: readonly Stage[];
  readonly durationMs: number;
  readonly connections: number;
  readonly maxQueue: number;
}

export type Executor =
  | ArrivalRateExecutor
  | ConstantVusExecutor
  | RampingVusExecutor
  | RampingArrivalRateExecutor;

/**
 * Presets (docs/load.md): normal 100 VUs for 5 min, peak 500 VUs for 5 min, soak 200 VUs for
 * 2 h; --vus scales the VU count, --duration replaces the duration. stress is a breaking-point
 * search (--find-limit) in the open model: 10 steps of a tenth of the top rate (default
 * 1,000/s; --rate sets it), each a tenth of the duration, stopping at the first step that breaks
 * the SLO. An open model, because a closed one lowers its load as the target slows down and so
 * hides the breaking point.
 */
export const PRESETS = {
  normal: { vus: 100, durationMs: 5 * 60_000 },
  peak: { vus: 500, durationMs: 5 * 60_000 },
  stress: { rate: 1000, durationMs: 10 * 60_000 },
  soak: { vus: 200, durationMs: 2 * 3_600_000 },
} as const;
export type PresetName = keyof typeof PRESETS;

/** `--find-limit`: constant-rate steps from startRate upwards until the SLO breaks. */
export interface FindLimitSpec {
  readonly startRate: number;
  readonly stepRate: number;
  readonly maxRate: number;
  readonly stepDurationMs: number;
  readonly connections: number;
  /** Queue bound per step; undefined: 2 s of that step's arrivals. */
  readonly maxQueue: number | undefined;
}

/** The SLO a breaking-point search uses when no --threshold is given. */
export const DEFAULT_LIMIT_SLO = ["p(99)<1s", "error_rate<1%"] as const;
export const DEFAULT_STEP_DURATION_MS = 10_000;
/** A search stops after this many steps unless --max-rate says otherwise. */
export const DEFAULT_LIMIT_STEPS = 50;

export interface LoadPlan {
  readonly request: RequestSpec;
  readonly executor: Executor;
  /** Per-request headers and body timeout. */
  readonly timeoutMs: number;
  readonly thresholds: readonly Threshold[];
  /** Set for `bulwark load scenario.yaml`; `request` then describes the first request. */
  readonly scenario?: Scenario;
  /** Set for --find-limit and --preset stress: `executor` is then the first step. */
  readonly findLimit?: FindLimitSpec;
  /** Worker threads the run is split across (--workers, scenario `workers:`); 1 when absent. */
  readonly workers?: number;
  /** How HTTPS targets are trusted (--ca, --insecure, scenario `tls:`); the system's CAs when absent. */
  readonly tls?: TargetTls;
  /** Offer HTTP/2 in the TLS handshake (--http2, scenario `http2: true`); the server picks. */
  readonly http2?: true;
}

export interface LoadInput {
  readonly target: string | undefined;
  readonly rate?: string | undefined;
  readonly vus?: string | undefined;
  readonly duration?: string | undefined;
  readonly connections?: string | undefined;
  readonly maxQueue?: string | undefined;
  readonly timeout?: string | undefined;
  readonly method?: string | undefined;
  readonly headers?: readonly string[] | undefined;
  readonly body?: string | undefined;
  readonly thresholds?: readonly string[] | undefined;
  readonly preset?: string | undefined;
  readonly findLimit?: boolean | undefined;
  readonly step?: string | undefined;
  readonly stepDuration?: string | undefined;
  readonly maxRate?: string | undefined;
  /** --workers: a positive whole number or "auto" (one per core). */
  readonly workers?: string | undefined;
  /** --insecure: do not verify the target's certificate. */
  readonly insecure?: boolean | undefined;
  /** --ca FILE: a PEM bundle trusted instead of the system's CAs. */
  readonly ca?: string | undefined;
  /** --http2: offer HTTP/2 (ALPN) to an https:// target. */
  readonly http2?: boolean | undefined;
  /** Request names thresholds may be scoped to (set internally for scenarios). */
  readonly requestNames?: readonly string[] | undefined;
}

export const DEFAULT_CONNECTIONS = 100;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Seconds of arrivals the open model may queue behind busy connections before dropping. */
export const DEFAULT_QUEUE_SECONDS = 2;
/** More worker threads than this is a typo, not a machine. */
export const MAX_WORKERS = 256;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function usage(message: string): never {
  throw new BulwarkError("usage", `${message}; see \`bulwark load --help\``);
}

export function buildPlan(input: LoadInput): LoadPlan {
  if (input.target !== undefined && /\.ya?ml$/i.test(input.target)) return buildScenarioPlan(input);
  const request = buildRequest(input);
  const { executor, findLimit } = buildSearchOrExecutor(input);
  const thresholds = (input.thresholds ?? []).map(parseThreshold);
  const plan = finishPlan(input, request, executor, withDefaultSlo(thresholds, findLimit));
  return findLimit ? Object.freeze({ ...plan, findLimit }) : plan;
}

function withDefaultSlo(thresholds: Threshold[], findLimit: FindLimitSpec | undefined): Threshold[] {
  return findLimit && thresholds.length === 0 ? DEFAULT_LIMIT_SLO.map(parseThreshold) : thresholds;
}

/**
 * --find-limit (or --preset stress): the search's steps; otherwise the plain executor. The first
 * step is also returned as `executor`, so everything that reads a plan's executor still works.
 */
function buildSearchOrExecutor(input: LoadInput): { executor: Executor; findLimit?: FindLimitSpec } {
  const stress = input.preset === "stress";
  if (!input.findLimit && !stress) {
    for (const [flag, value] of [
      ["--step", input.step],
      ["--step-duration", input.stepDuration],
      ["--max-rate", input.maxRate],
    ] as const) {
      if (value !== undefined) usage(`${flag} applies to --find-limit`);
    }
    return { executor: buildExecutor(input) };
  }
  if (input.vus !== undefined)
    usage(
      stress
        ? "--preset stress searches arrival rates; give --rate for its top rate, not --vus"
        : "--find-limit raises an arrival rate; give --rate (the first step), not --vus",
    );
  let search: Omit<FindLimitSpec, "connections" | "maxQueue">;
  if (stress) {
    const top = input.rate === undefined ? PRESETS.stress.rate : positiveNumber("--rate", input.rate);
    const durationMs = input.duration === undefined ? PRESETS.stress.durationMs : parseBound(input.duration);
    if (input.step !== undefined || input.stepDuration !== undefined || input.maxRate !== undefined)
      usage(
        "--preset stress sets its own steps; use --find-limit to choose --step, --step-duration, --max-rate",
      );
    search = { startRate: top / 10, stepRate: top / 10, maxRate: top, stepDurationMs: durationMs / 10 };
  } else {
    if (input.preset !== undefined)
      usage("--find-limit cannot be combined with --preset (stress already searches)");
    if (input.rate === undefined)
      usage("--find-limit needs --rate N, the first step's rate (requests per second)");
    if (input.duration !== undefined)
      usage("--find-limit runs steps: give --step-duration (default 10s), not --duration");
    const startRate = positiveNumber("--rate", input.rate);
    const stepRate = input.step === undefined ? startRate : positiveNumber("--step", input.step);
    const maxRate =
      input.maxRate === undefined
        ? startRate + (DEFAULT_LIMIT_STEPS - 1) * stepRate
        : positiveNumber("--max-rate", input.maxRate);
    if (maxRate < startRate) usage("--max-rate must be at least --rate");
    const stepDurationMs =
      input.stepDuration === undefined
        ? DEFAULT_STEP_DURATION_MS
        : parseBound(input.stepDuration, "--step-duration");
    search = { startRate, stepRate, maxRate, stepDurationMs };
  }
  const connections =
    input.connections === undefined
      ? DEFAULT_CONNECTIONS
      : positiveInteger("--connections", input.connections);
  const maxQueue =
    input.maxQueue === undefined ? undefined : nonNegativeInteger("--max-queue", input.maxQueue);
  const findLimit: FindLimitSpec = Object.freeze({ ...search, connections, maxQueue });
  return { executor: limitStep(findLimit, findLimit.startRate), findLimit };
}

/** The constant-rate executor of one search step. */
export function limitStep(spec: FindLimitSpec, rate: number): ArrivalRateExecutor {
  return {
    kind: "constant-arrival-rate",
    rate,
    durationMs: spec.stepDurationMs,
    connections: spec.connections,
    maxQueue: spec.maxQueue ?? Math.max(1, Math.ceil(rate * DEFAULT_QUEUE_SECONDS)),
  };
}

function buildScenarioPlan(input: LoadInput): LoadPlan {
  for (const [flag, value] of [
    ["--method", input.method],
    ["--header", input.headers?.length ? input.headers : undefined],
    ["--body", input.body],
  ] as const) {
    if (value !== undefined) usage(`${flag} applies to a URL target; a scenario sets it per request`);
  }
  const scenario = loadScenarioFile(input.target!);
  let executor: Executor;
  let findLimit: FindLimitSpec | undefined;
  if (scenario.executor) {
    for (const [flag, value] of [
      ["--rate", input.rate],
      ["--vus", input.vus],
      ["--duration", input.duration],
      ["--preset", input.preset],
      ["--find-limit", input.findLimit ? "set" : undefined],
    ] as const) {
      if (value !== undefined) usage(`${flag}: the scenario sets its executor; remove one or the other`);
    }
    const given = scenario.executor;
    const connections =
      input.connections === undefined ? undefined : positiveInteger("--connections", input.connections);
    const maxQueue =
      input.maxQueue === undefined ? undefined : nonNegativeInteger("--max-queue", input.maxQueue);
    if (given.kind === "constant-arrival-rate" || given.kind === "ramping-arrival-rate") {
      const conns = connections ?? given.connections ?? DEFAULT_CONNECTIONS;
      const peak =
        given.kind === "constant-arrival-rate"
          ? given.rate
          : Math.max(given.startRate, ...given.stages.map((stage) => stage.target));
      const queue = maxQueue ?? given.maxQueue ?? Math.max(1, Math.ceil(peak * DEFAULT_QUEUE_SECONDS));
      executor =
        given.kind === "constant-arrival-rate"
          ? {
              kind: "constant-arrival-rate",
              rate: given.rate,
              durationMs: given.durationMs,
              connections: conns,
              maxQueue: queue,
            }
          : {
              kind: "ramping-arrival-rate",
              startRate: given.startRate,
              stages: given.stages,
              durationMs: given.durationMs,
              connections: conns,
              maxQueue: queue,
            };
    } else {
      if (connections !== undefined || maxQueue !== undefined)
        usage("--connections and --max-queue apply to arrival-rate executors");
      executor = given;
    }
  } else {
    const built = buildSearchOrExecutor(input);
    executor = built.executor;
    findLimit = built.findLimit;
  }
  const first = scenario.requests[0]!;
  const request: RequestSpec = Object.freeze({
    displayUrl: scenario.target,
    origin: first.origin,
    path: "/",
    method: scenario.requests.length === 1 ? first.method : "MIXED",
    headers: Object.freeze({}),
    body: undefined,
  });
  const thresholds = withDefaultSlo(
    [...scenario.thresholds, ...(input.thresholds ?? []).map(parseThreshold)],
    findLimit,
  );
  const plan = finishPlan(
    { ...input, timeout: input.timeout, requestNames: scenario.requests.map((item) => item.name) },
    request,
    executor,
    thresholds,
    scenario.timeoutMs,
    scenario.workers,
    scenario.tls,
    scenario.requests.map((item) => item.origin),
    scenario.http2,
  );
  return Object.freeze({ ...plan, scenario, ...(findLimit ? { findLimit } : {}) });
}

function buildExecutor(input: LoadInput): Executor {
  if (input.preset !== undefined) {
    if (!Object.hasOwn(PRESETS, input.preset))
      usage(`--preset: expected normal, peak, stress or soak, got ${JSON.stringify(input.preset)}`);
    if (input.rate !== undefined) usage("--preset runs virtual users; give --vus to scale it, not --rate");
    const preset = PRESETS[input.preset as Exclude<PresetName, "stress">];
    const vus = input.vus === undefined ? preset.vus : positiveInteger("--vus", input.vus);
    const durationMs = input.duration === undefined ? preset.durationMs : parseBound(input.duration);
    return { kind: "constant-vus", vus, durationMs };
  }
  if (input.duration === undefined) {
    usage("a run needs a bound: give --duration (e.g. --duration 30s) or --preset");
  }
  const durationMs = parseBound(input.duration);
  if (input.rate !== undefined && input.vus !== undefined) {
    usage("give --rate (open model) or --vus (closed model), not both");
  }
  let executor: Executor;
  if (input.rate !== undefined) {
    const rate = positiveNumber("--rate", input.rate);
    const connections =
      input.connections === undefined
        ? DEFAULT_CONNECTIONS
        : positiveInteger("--connections", input.connections);
    const maxQueue =
      input.maxQueue === undefined
        ? Math.max(1, Math.ceil(rate * DEFAULT_QUEUE_SECONDS))
        : nonNegativeInteger("--max-queue", input.maxQueue);
    executor = { kind: "constant-arrival-rate", rate, durationMs, connections, maxQueue };
  } else if (input.vus !== undefined) {
    if (input.connections !== undefined) usage("--connections applies to --rate; with --vus each VU has one");
    if (input.maxQueue !== undefined) usage("--max-queue applies to --rate");
    executor = { kind: "constant-vus", vus: positiveInteger("--vus", input.vus), durationMs };
  } else {
    usage("give --rate N (requests per second, open model) or --vus N (concurrent users, closed model)");
  }
  return executor;
}

function parseBound(text: string, flag = "--duration"): number {
  const durationMs = parseDuration(text);
  if (durationMs === undefined || durationMs <= 0) {
    usage(`${flag}: expected a duration like 30s, 5m or 500ms, got ${JSON.stringify(text)}`);
  }
  return durationMs;
}

function finishPlan(
  input: LoadInput,
  request: RequestSpec,
  executor: Executor,
  thresholds: readonly Threshold[],
  scenarioTimeoutMs?: number,
  scenarioWorkers?: number | "auto",
  scenarioTls?: TargetTls,
  origins: readonly string[] = [request.origin],
  scenarioHttp2?: boolean,
): LoadPlan {
  let timeoutMs = scenarioTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (input.timeout !== undefined) {
    const parsed = parseDuration(input.timeout);
    if (parsed === undefined || parsed <= 0) {
      usage(`--timeout: expected a duration like 10s, got ${JSON.stringify(input.timeout)}`);
    }
    timeoutMs = parsed;
  }
  const names = input.requestNames ?? ["default"];
  for (const threshold of thresholds) {
    if (threshold.scope !== undefined && !names.includes(threshold.scope))
      usage(
        `threshold ${JSON.stringify(threshold.expression)}: no request named ${threshold.scope} (names: ${names.join(", ")})`,
      );
  }
  const workers =
    input.workers !== undefined
      ? resolveWorkers(input.workers, executor, "--workers")
      : resolveWorkers(scenarioWorkers, executor, "scenario workers");
  const tls = targetTls(input, origins) ?? scenarioTls;
  const http2 = input.http2 === true || scenarioHttp2 === true;
  // undici negotiates HTTP/2 through TLS ALPN only (no cleartext h2c).
  if (http2 && !origins.some((origin) => origin.startsWith("https:")))
    usage(
      `${input.http2 ? "--http2" : "the scenario's http2: true"} needs an https:// target (HTTP/2 is negotiated in the TLS handshake); ${origins[0]} is plain HTTP`,
    );
  return Object.freeze({
    request,
    executor: Object.freeze(executor),
    timeoutMs,
    thresholds,
    ...(workers > 1 ? { workers } : {}),
    ...(tls ? { tls } : {}),
    ...(http2 ? { http2: true as const } : {}),
  });
}

/** --insecure or --ca, which override the scenario's `tls:`. */
function targetTls(input: LoadInput, origins: readonly string[]): TargetTls | undefined {
  try {
    return chooseTargetTls(input, origins, process.cwd(), { insecure: "--insecure", ca: "--ca" });
  } catch (error) {
    if (!(error instanceof TlsChoiceError)) throw error;
    usage(error.key === "ca" ? `--ca: ${error.message}` : error.message);
  }
}

/**
 * --workers (or the scenario's `workers:`; the flag wins): "auto" is one per core, capped at
 * what the run can use; an explicit count above that is refused, since a worker with no VU or
 * connection would do nothing while the user believes it carries load.
 */
function resolveWorkers(value: string | number | undefined, executor: Executor, label: string): number {
  if (value === undefined) return 1;
  const most = maxWorkersFor(executor);
  if (value === "auto") return Math.max(1, Math.min(availableParallelism(), most, MAX_WORKERS));
  const count = typeof value === "number" ? value : Number(value);
  if ((typeof value === "string" && !/^\d+$/.test(value.trim())) || !(count >= 1))
    usage(`${label}: expected a positive whole number or auto, got ${JSON.stringify(value)}`);
  if (count > MAX_WORKERS) usage(`${label}: at most ${MAX_WORKERS}, got ${count}`);
  if (count > most) {
    const unit =
      executor.kind === "constant-arrival-rate" || executor.kind === "ramping-arrival-rate"
        ? "connection (--connections)"
        : "VU";
    usage(`${label} ${count}: each worker needs at least one ${unit}, and this run has ${most}`);
  }
  return count;
}

function buildRequest(input: LoadInput): RequestSpec {
  const target = input.target;
  if (target === undefined)
    usage("give the target URL, e.g. bulwark load http://127.0.0.1:8080/ --rate 100 --duration 30s");
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    usage(`invalid target URL ${JSON.stringify(target)}: expected http://host[:port]/path or https://…`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    usage(`invalid target URL ${JSON.stringify(target)}: only http and https are supported`);
  }
  const headers: Record<string, string> = {};
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  }
  for (const line of input.headers ?? []) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trim() : "";
    if (!TOKEN.test(name)) usage(`--header: expected "Name: value", got ${JSON.stringify(line)}`);
    const value = line.slice(colon + 1).trim();
    // RFC 9110 §5.5: a field value never holds CR, LF or NUL (it would split the header).
    if (/[\r\n\0]/.test(value)) usage(`--header ${name}: a value must not contain a line break or NUL`);
    headers[name.toLowerCase()] = value;
  }
  const method = (input.method ?? "GET").toUpperCase();
  if (!TOKEN.test(method)) usage(`--method: invalid method ${JSON.stringify(input.method)}`);
  const display = new URL(url.href);
  display.username = "";
  display.password = "";
  return Object.freeze({
    displayUrl: display.href,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method,
    headers: Object.freeze(headers),
    body: input.body,
  });
}

function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(value > 0))
    usage(`${flag}: expected a positive number, got ${JSON.stringify(text)}`);
  return value;
}

function positiveInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1)
    usage(`${flag}: expected a positive whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function nonNegativeInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text.trim())) usage(`${flag}: expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}
