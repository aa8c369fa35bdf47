/**
 * One scenario iteration: pick a request by weight (mix) or run every request in order (flow),
 * substituting the iteration's data row and the values extracted earlier in the same iteration,
 * pausing thinkTime between requests. Each request is recorded under its name and in the total.
 */
import type { Dispatcher } from "undici";
import { dispatchRequest } from "./dispatch.js";
import type { Outcome } from "./metrics.js";
import type { Extractor, Scenario, ScenarioRequest } from "./scenario.js";
import { render, type TemplateContext } from "./template.js";
import type { Share } from "./worker-share.js";

/** Bodies kept for extraction are capped: a token never needs more, and memory stays bounded. */
const MAX_CAPTURE_BYTES = 1024 * 1024;

export type Recorder = (name: string, outcome: Outcome, intendedAt: number, sentAt: number) => void;

export function scenarioIteration(
  scenario: Scenario,
  dispatchers: ReadonlyMap<string, Dispatcher>,
  timeoutMs: number,
  record: Recorder,
  signal: AbortSignal,
  share?: Share,
): { iterate: (intendedAt: number) => Promise<void>; thinkAfterIteration: () => Promise<void> } {
  // Sequential rows: worker k of N reads rows k, k + N, … so the workers together walk the file
  // in order once, as one process would, instead of each starting at row 0.
  let sequence = share?.index ?? 0;
  const stride = share?.count ?? 1;
  const pickRow = () => {
    const data = scenario.data;
    if (!data) return undefined;
    let index: number;
    if (data.mode === "random") index = Math.floor(Math.random() * data.rows.length);
    else {
      index = sequence % data.rows.length;
      sequence += stride;
    }
    return data.rows[index];
  };
  const think = async (): Promise<void> => {
    const time = scenario.thinkTime;
    if (!time || signal.aborted) return;
    const ms = time.minMs + Math.random() * (time.maxMs - time.minMs);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  };
  const send = async (
    request: ScenarioRequest,
    context: TemplateContext & { vars: Map<string, string> },
    intendedAt: number,
  ) => {
    const sentAt = performance.now();
    const outcome = await sendScenarioRequest(dispatchers.get(request.origin)!, request, context, timeoutMs);
    record(request.name, outcome, intendedAt, sentAt);
    return outcome;
  };
  const iterate = async (intendedAt: number): Promise<void> => {
    const context = { data: pickRow(), vars: new Map<string, string>() };
    if (scenario.mix) {
      const roll = Math.random();
      const slot = scenario.mix.cumulative.findIndex((bound) => roll < bound);
      const index = scenario.mix.indexes[slot === -1 ? scenario.mix.indexes.length - 1 : slot]!;
      await send(scenario.requests[index]!, context, intendedAt);
      return;
    }
    let due = intendedAt;
    for (const [position, request] of scenario.requests.entries()) {
      if (signal.aborted) return;
      if (position > 0) {
        await think();
        due = performance.now();
      }
      await send(request, context, due);
    }
  };
  return { iterate, thinkAfterIteration: think };
}

async function sendScenarioRequest(
  dispatcher: Dispatcher,
  request: ScenarioRequest,
  context: TemplateContext & { vars: Map<string, string> },
  timeoutMs: number,
): Promise<Outcome> {
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = render(value, context);
  const capture = request.extract.some((item) => item.from !== "header");
  const answer = await dispatchRequest(
    dispatcher,
    {
      origin: request.origin,
      path: render(request.path, context),
      method: request.method as "GET",
      headers,
      body: request.body ? render(request.body, context) : null,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    },
    { headers: request.extract.length > 0, bodyBytes: capture ? MAX_CAPTURE_BYTES : 0, check: true },
  );
  if (answer.outcome.kind === "response" && request.extract.length > 0) {
    const text = answer.body ? answer.body.toString("utf8") : "";
    for (const item of request.extract) {
      const value = extract(item, text, answer.headers ?? {});
      if (value !== undefined) context.vars.set(item.name, value);
    }
  }
  return answer.outcome;
}

export function extract(
  item: Extractor,
  body: string,
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  if (item.from === "header") {
    const value = headers[item.header];
    return Array.isArray(value) ? value[0] : value;
  }
  if (item.from === "regex") {
    const match = item.pattern.exec(body);
    return match ? (match[1] ?? match[0]) : undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  for (const key of item.keys) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  if (value === undefined || value === null) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}
