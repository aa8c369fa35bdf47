/**
 * A load run's plan: what to send, how (open or closed model), for how long, and the bars it
 * must pass. Built once from CLI input (parse at the edge); everything after receives it frozen.
 */
import { parseDuration } from "../config/units.js";
import { BulwarkError } from "../errors.js";
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

export type Executor = ArrivalRateExecutor | ConstantVusExecutor;

export interface LoadPlan {
  readonly request: RequestSpec;
  readonly executor: Executor;
  /** Per-request headers and body timeout. */
  readonly timeoutMs: number;
  readonly thresholds: readonly Threshold[];
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
  const request = buildRequest(input);
  if (input.duration === undefined) {
    usage("a run needs a bound: give --duration (e.g. --duration 30s)");
  }
  const durationMs = parseDuration(input.duration);
  if (durationMs === undefined || durationMs <= 0) {
    usage(`--duration: expected a duration like 30s, 5m or 500ms, got ${JSON.stringify(input.duration)}`);
  }
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
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (input.timeout !== undefined) {
    const parsed = parseDuration(input.timeout);
    if (parsed === undefined || parsed <= 0) {
      usage(`--timeout: expected a duration like 10s, got ${JSON.stringify(input.timeout)}`);
    }
    timeoutMs = parsed;
  }
  const thresholds = (input.thresholds ?? []).map(parseThreshold);
  return Object.freeze({ request, executor: Object.freeze(executor), timeoutMs, thresholds });
}

function buildRequest(input: LoadInput): RequestSpec {
  const target = input.target;
  if (target === undefined)
    usage("give the target URL, e.g. bulwark load http://127.0.0.1:8080/ --rate 100 --duration 30s");
  if (/\.ya?ml$/i.test(target)) usage("scenario files are not supported yet; give a URL");
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
