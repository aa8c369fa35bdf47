/**
 * The hot path of a URL run (`bulwark load URL`): one undici Client per connection and one
 * reusable exchange object per Client, driven through undici's handler callbacks.
 *
 * Why not a Pool and a handler per request (dispatch.ts, which scenario runs use): at tens of
 * thousands of requests per second the generator's own CPU per request is the limit
 * (docs/performance.md, "Load generator"). A Pool looks for a free Client on every dispatch;
 * undici's newer controller API wraps each handler and parses every response's headers into an
 * object that a URL run never reads; and a handler, answer, outcome and three promises per
 * request are garbage to collect. Here a request costs one promise (none in the closed model,
 * whose VUs chain their requests through callbacks): each in-flight slot owns a
 * Client (so the slot is the connection, as in the Pool's keep-alive behaviour) and an exchange
 * that is reset and reused, and undici's callback handler API (onConnect, onHeaders, onData,
 * onComplete, onError: raw header buffers, nothing parsed) feeds it.
 */
import { Client, type Dispatcher } from "undici";
import { classifyError, type ErrorClass } from "./error-class.js";
import type { RunMetrics } from "./metrics.js";
import type { RequestSpec } from "./plan.js";

class Exchange implements Dispatcher.DispatchHandler {
  intendedAt = 0;
  sentAt = 0;
  status = 0;
  bytes = 0;
  failure: Exclude<ErrorClass, "http"> | undefined;
  #synchronous = false;
  #then: (() => void) | undefined;

  constructor(
    readonly client: Client,
    private readonly options: Dispatcher.DispatchOptions,
    private readonly finish: (exchange: Exchange) => void,
  ) {}

  /** Sends the request; `then` is called once the answer (or failure) has been recorded. */
  send(intendedAt: number, then: () => void): void {
    this.intendedAt = intendedAt;
    this.status = 0;
    this.bytes = 0;
    this.failure = undefined;
    this.#then = then;
    this.#synchronous = true;
    this.sentAt = performance.now();
    try {
      this.client.dispatch(this.options, this);
    } catch (error) {
      this.onError(error as Error);
    }
    this.#synchronous = false;
  }

  onConnect(): void {}

  onHeaders(statusCode: number): boolean {
    // 1xx answers (103 Early Hints) are informational; the final answer follows.
    if (statusCode >= 200) this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    return true;
  }

  onComplete(): void {
    this.#settle();
  }

  onError(error: Error): void {
    this.failure = classifyError(error);
    // Never re-entered: undici reports a failed connection (a refused TLS certificate) from
    // inside its loop over the queued requests, and a request dispatched to the same Client
    // from there breaks that loop's invariants (undici then asserts, and the new request hangs
    // until its timeout). A failed request is answered on the next turn of the event loop,
    // which also keeps a VU loop against a failing target from spinning (dispatch.ts).
    setImmediate(() => this.#done());
  }

  #settle(): void {
    // A request failed synchronously (a destroyed client) is answered on the next turn too.
    if (this.#synchronous) setImmediate(() => this.#done());
    else this.#done();
  }

  #done(): void {
    // Settles once per send, whatever undici reports after the end (an error after completion).
    const then = this.#then;
    if (!then) return;
    this.#then = undefined;
    this.finish(this);
    then();
  }
}

export class UrlSender {
  readonly #free: Exchange[];
  readonly #all: Exchange[];
  recording = true;

  constructor(
    spec: RequestSpec,
    timeoutMs: number,
    connections: number,
    metrics: RunMetrics,
    /** Each connection's Client options (target-tls.ts: trust, HTTP/2). */
    dispatcher: Client.Options,
  ) {
    const options: Dispatcher.DispatchOptions = {
      path: spec.path,
      method: spec.method as Dispatcher.HttpMethod,
      headers: spec.headers,
      body: spec.body ?? null,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    };
    const finish = (exchange: Exchange) => {
      if (!this.recording) return;
      if (exchange.failure !== undefined) metrics.recordFailure(exchange.failure, exchange.bytes);
      else
        metrics.recordResponse(
          exchange.status,
          exchange.bytes,
          exchange.intendedAt,
          exchange.sentAt,
          performance.now(),
        );
      this.#free.push(exchange);
    };
    this.#all = Array.from(
      { length: connections },
      () => new Exchange(new Client(spec.origin, dispatcher), options, finish),
    );
    this.#free = [...this.#all];
  }

  /**
   * Sends one request on a free connection. The executors never have more requests in flight
   * than connections (arrival-rate.ts, closed-model.ts), so one is always free.
   */
  readonly send = (intendedAt: number): Promise<void> =>
    new Promise((resolve) => this.#exchange().send(intendedAt, resolve));

  /**
   * The closed model (closed-model.ts runConstantVus) without a promise per request: each VU's
   * next request starts from the previous one's completion callback, until `end` or the signal.
   */
  runConstantVus(vus: number, start: number, durationMs: number, signal: AbortSignal): Promise<void> {
    const end = start + durationMs;
    return new Promise((resolve) => {
      let running = vus;
      const next = (): void => {
        const now = performance.now();
        if (signal.aborted || now >= end) {
          if (--running === 0) resolve();
          return;
        }
        this.#exchange().send(now, next);
      };
      for (let index = 0; index < vus; index++) next();
    });
  }

  #exchange(): Exchange {
    const exchange = this.#free.pop();
    if (!exchange) throw new Error("url sender: more requests in flight than connections");
    return exchange;
  }

  async destroy(): Promise<void> {
    this.recording = false;
    await Promise.all(this.#all.map((exchange) => exchange.client.destroy().catch(() => undefined)));
  }
}
