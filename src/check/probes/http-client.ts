/**
 * The polite HTTP client of `check url`: every request goes through one budget (a hard ceiling on
 * the number sent) and one pacer (at most `rate` request starts per second), reads at most
 * MAX_BODY_BYTES of each body and gives up after `timeoutMs`. Transport failures come back as
 * a response with `error` set, never as an exception.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";

export const MAX_BODY_BYTES = 256 * 1024;

export interface ProbeResponse {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", " (set-cookie kept apart). */
  readonly headers: Readonly<Record<string, string>>;
  readonly setCookies: readonly string[];
  readonly body: Buffer;
  readonly text: string;
  readonly truncated: boolean;
  /** Transport failure (connect refused, DNS, TLS, timeout); status is 0 then. */
  readonly error?: { readonly code: string; readonly message: string };
}

export interface ProbeRequest {
  readonly method?: string;
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** Thrown by send() when no more requests may go out: the budget is spent or the run was interrupted. */
export class StopProbing extends Error {}

export class ProbeClient {
  private sent = 0;
  private nextStart = 0;
  private readonly intervalMs: number;
  private readonly dispatcher: Agent;

  constructor(
    readonly options: { rate: number; timeoutMs: number; budget: number; signal?: AbortSignal | undefined },
  ) {
    this.intervalMs = 1000 / options.rate;
    // Certificates are judged by the TLS inspector; HTTP probes must still reach a service whose
    // certificate is untrusted, or nothing else could be checked.
    this.dispatcher = new Agent({
      connect: { rejectUnauthorized: false, timeout: options.timeoutMs }, // bulwark:ignore (judged by tls-inspect)
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connections: 4,
      pipelining: 1,
    });
  }

  get requestsSent(): number {
    return this.sent;
  }

  /** Sends one request, paced; throws StopProbing when the budget is spent or the run interrupted. */
  async send(req: ProbeRequest, options: { paced?: boolean } = {}): Promise<ProbeResponse> {
    if (this.options.signal?.aborted) throw new StopProbing("interrupted");
    if (this.sent >= this.options.budget)
      throw new StopProbing(`request budget of ${this.options.budget} reached`);
    this.sent += 1;
    if (options.paced !== false) {
      const now = Date.now();
      const start = Math.max(now, this.nextStart);
      this.nextStart = start + this.intervalMs;
      if (start > now) await sleep(start - now);
    }
    const method = req.method ?? "GET";
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = this.options.signal ? AbortSignal.any([timeout, this.options.signal]) : timeout;
    try {
      const response = await request(req.url, {
        method: method as "GET",
        headers: { "user-agent": "bulwark-check (+docs/checks.md)", accept: "*/*", ...req.headers },
        ...(req.body !== undefined ? { body: req.body } : {}),
        dispatcher: this.dispatcher,
        signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer;
        if (size + buffer.length > MAX_BODY_BYTES) {
          chunks.push(buffer.subarray(0, MAX_BODY_BYTES - size));
          size = MAX_BODY_BYTES;
          truncated = true;
          response.body.destroy();
          break;
        }
        chunks.push(buffer);
        size += buffer.length;
      }
      const headers: Record<string, string> = {};
      let setCookies: string[] = [];
      for (const [name, value] of Object.entries(response.headers)) {
        if (value === undefined) continue;
        if (name === "set-cookie") setCookies = Array.isArray(value) ? value : [value];
        else headers[name] = Array.isArray(value) ? value.join(", ") : value;
      }
      const body = Buffer.concat(chunks);
      return {
        method,
        url: req.url,
        status: response.statusCode,
        headers,
        setCookies,
        body,
        text: body.toString("utf8"),
        truncated,
      };
    } catch (error) {
      const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
      const code =
        err.code ?? err.cause?.code ?? (err.name === "TimeoutError" || signal.aborted ? "TIMEOUT" : err.name);
      const message = signal.aborted
        ? `no answer within ${this.options.timeoutMs} ms`
        : (err.cause?.message ?? err.message);
      return {
        method,
        url: req.url,
        status: 0,
        headers: {},
        setCookies: [],
        body: Buffer.alloc(0),
        text: "",
        truncated: false,
        error: { code: String(code), message },
      };
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }
}
