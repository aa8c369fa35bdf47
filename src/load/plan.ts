/**
 * A load run's plan: what to send, how (open or closed model), for how long, and the bars it
 * must pass. Built once from CLI input (parse at the edge); everything after receives it frozen.
 */
import { parseDuration } from "../config/units.js";
import { BulwarkError } from "../errors.js";
import { loadScenarioFile, type Scenario } from "./scenario.js";
import type { Stage } from "./stages.js";
import { parseThreshold, type Threshold } from "./thresholds.js";

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
 * Presets (docs/load.md): normal 100 VUs for 5 min, peak 500 VUs for 5 min, stress a ramp from 0
 * to 1,000 VUs over 10 min, soak 200 VUs for 2 h. --vus scales the VU count (the ramp's top for
 * stress), --duration replaces the duration (the ramp's length for stress).
 */
export const PRESETS = {
  normal: { vus: 100, durationMs: 5 * 60_000 },
  peak: { vus: 500, durationMs: 5 * 60_000 },
  stress: { vus: 1000, durationMs: 10 * 60_000 },
  soak: { vus: 200, durationMs: 2 * 3_600_000 },
} as const;
export type PresetName = keyof typeof PRESETS;

export interface LoadPlan {
  readonly request: RequestSpec;
  readonly executor: Executor;
  /** Per-request headers and body timeout. */
  readonly timeoutMs: number;
  readonly thresholds: readonly Threshold[];
  /** Set for `bulwark load scenario.yaml`; `request` then describes the first request. */
  readonly scenario?: Scenario;
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
}

export const DEFAULT_CONNECTIONS = 100;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Seconds of arrivals the open model may queue behind busy connections before dropping. */
export const DEFAULT_QUEUE_SECONDS = 2;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function usage(message: string): never {
  throw new BulwarkError("usage", `${message}; see \`bulwark load --help\``);
}

export function buildPlan(input: LoadInput): LoadPlan {
  if (input.target !== undefined && /\.ya?ml$/i.test(input.target)) return buildScenarioPlan(input);
  const request = buildRequest(input);
  const executor = buildExecutor(input);
  return finishPlan(input, request, executor, (input.thresholds ?? []).map(parseThreshold));
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
  if (scenario.executor) {
    for (const [flag, value] of [
      ["--rate", input.rate],
      ["--vus", input.vus],
      ["--duration", input.duration],
      ["--preset", input.preset],
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
  } else executor = buildExecutor(input);
  const first = scenario.requests[0]!;
  const request: RequestSpec = Object.freeze({
    displayUrl: scenario.target,
    origin: first.origin,
    path: "/",
    method: scenario.requests.length === 1 ? first.method : "MIXED",
    headers: Object.freeze({}),
    body: undefined,
  });
  const thresholds = [...scenario.thresholds, ...(input.thresholds ?? []).map(parseThreshold)];
  const plan = finishPlan(
    { ...input, timeout: input.timeout },
    request,
    executor,
    thresholds,
    scenario.timeoutMs,
  );
  return Object.freeze({ ...plan, scenario });
}

function buildExecutor(input: LoadInput): Executor {
  if (input.preset !== undefined) {
    if (!Object.hasOwn(PRESETS, input.preset))
      usage(`--preset: expected normal, peak, stress or soak, got ${JSON.stringify(input.preset)}`);
    if (input.rate !== undefined) usage("--preset runs virtual users; give --vus to scale it, not --rate");
    const preset = PRESETS[input.preset as PresetName];
    const vus = input.vus === undefined ? preset.vus : positiveInteger("--vus", input.vus);
    const durationMs = input.duration === undefined ? preset.durationMs : parseBound(input.duration);
    if (input.preset === "stress") {
      return { kind: "ramping-vus", startVus: 0, stages: [{ durationMs, target: vus }], durationMs };
    }
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

function parseBound(text: string): number {
  const durationMs = parseDuration(text);
  if (durationMs === undefined || durationMs <= 0) {
    usage(`--duration: expected a duration like 30s, 5m or 500ms, got ${JSON.stringify(text)}`);
  }
  return durationMs;
}

function finishPlan(
  input: LoadInput,
  request: RequestSpec,
  executor: Executor,
  thresholds: readonly Threshold[],
  scenarioTimeoutMs?: number,
): LoadPlan {
  let timeoutMs = scenarioTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (input.timeout !== undefined) {
    const parsed = parseDuration(input.timeout);
    if (parsed === undefined || parsed <= 0) {
      usage(`--timeout: expected a duration like 10s, got ${JSON.stringify(input.timeout)}`);
    }
    timeoutMs = parsed;
  }
  return Object.freeze({ request, executor: Object.freeze(executor), timeoutMs, thresholds });
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
    headers[name.toLowerCase()] = line.slice(colon + 1).trim();
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
