/**
 * One request through undici's low-level Dispatcher.dispatch with a handler object, as the
 * gateway's proxy does (src/gateway/upstream/proxy.ts): no body stream, async iterator or
 * per-chunk promise is created, which is most of what a request costs the generator on a fast
 * target (bench/load, docs/performance.md "Load generator"). Never rejects: a failure becomes
 * an Outcome with an error class.
 */
import type { Dispatcher } from "undici";
import { classifyError } from "./error-class.js";
import type { Outcome } from "./metrics.js";

export interface Answer {
  readonly outcome: Outcome;
  /** Response headers, when asked for (extraction); lower-case names. */
  readonly headers: Record<string, string | string[] | undefined> | undefined;
  /** The body, when asked for, up to `captureBytes`. */
  readonly body: Buffer | undefined;
}

class AnswerHandler implements Dispatcher.DispatchHandler {
  bytes = 0;
  status = 0;
  headers: Record<string, string | string[] | undefined> | undefined;
  readonly chunks: Buffer[] | undefined;

  constructor(
    private readonly keepHeaders: boolean,
    private readonly captureBytes: number,
    private readonly settle: (answer: Answer) => void,
  ) {
    this.chunks = captureBytes > 0 ? [] : undefined;
  }

  // Its presence tells undici this handler uses the controller API (undici 7).
  onRequestStart(): void {}

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx answers (103 Early Hints) are informational; the final answer follows.
    if (statusCode < 200) return;
    this.status = statusCode;
    if (this.keepHeaders) this.headers = headers;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.chunks && this.bytes <= this.captureBytes) this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.settle({
      outcome: { kind: "response", status: this.status, bytes: this.bytes },
      headers: this.headers,
      body: this.chunks ? Buffer.concat(this.chunks) : undefined,
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  fail(error: unknown): void {
    this.settle({
      outcome: { kind: "failure", errorClass: classifyError(error), bytes: this.bytes },
      headers: undefined,
      body: undefined,
    });
  }
}

/** RFC 9110 §5.1 token: a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5: a field value never holds CR, LF or NUL. */
const BAD_VALUE = /[\r\n\0]/;
/** What undici accepts in a request target (its own check). */
const BAD_PATH = /[^\u0021-\u00ff]/;

/**
 * Whether undici would refuse these options before sending. Such requests are failed here and
 * never handed to undici: a Pool that refuses a request synchronously stops dispatching the
 * requests queued behind it (undici 7.30: concurrent dispatches then never settle), which would
 * hang the run. Templated scenario requests can produce them from data (a value with a line
 * break); URL runs are checked once, at the edge (plan.ts).
 */
export function refusedBeforeSending(options: Dispatcher.DispatchOptions): boolean {
  if (BAD_PATH.test(options.path)) return true;
  const headers = options.headers as Record<string, string | string[] | undefined> | null | undefined;
  if (!headers) return false;
  for (const name in headers) {
    if (!TOKEN.test(name)) return true;
    const value = headers[name];
    if (typeof value === "string" ? BAD_VALUE.test(value) : value?.some((item) => BAD_VALUE.test(item)))
      return true;
  }
  return false;
}

export function dispatchRequest(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  capture: { headers: boolean; bodyBytes: number; check?: boolean } = { headers: false, bodyBytes: 0 },
): Promise<Answer> {
  if (capture.check && refusedBeforeSending(options)) {
    return new Promise((resolve) =>
      setImmediate(resolve, {
        outcome: { kind: "failure", errorClass: "other", bytes: 0 },
        headers: undefined,
        body: undefined,
      }),
    );
  }
  return new Promise((resolve) => {
    // undici refuses some requests before sending (a header value with a line break) and calls
    // the handler, or throws, synchronously. Such answers are delivered on the next turn of the
    // event loop: a VU loop failing synchronously would otherwise spin on resolved promises and
    // starve timers and signal handlers (Ctrl-C) until the run ends.
    let synchronous = true;
    const handler = new AnswerHandler(capture.headers, capture.bodyBytes, (answer) => {
      if (synchronous) setImmediate(resolve, answer);
      else resolve(answer);
    });
    try {
      dispatcher.dispatch(options, handler);
    } catch (error) {
      handler.fail(error);
    }
    synchronous = false;
  });
}
