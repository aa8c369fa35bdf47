/**
 * Forwards one request to a target of its route's upstream group and streams the answer back.
 * Bodies stream both ways with backpressure and are never buffered. undici's stream() writes
 * the upstream body straight into the client response, so no intermediate stream is created.
 */
import type { ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import { type ErrorCode, isBulwarkError } from "../../errors.js";
import type { RequestContext } from "../context.js";
import { BANNER_HEADERS } from "../header-profiles.js";
import { runResponseStages, type StageChain } from "../pipeline.js";
import { forwardPreReadBody } from "../request-body.js";
import { rewritePath } from "../request-target.js";
import type { ResponseHead } from "../stage.js";
import { BodyGuard } from "./body-guard.js";
import { appendForwardingHeaders } from "./forwarded.js";
import type { UpstreamGroup, UpstreamTarget } from "./group.js";
import { forwardableRequestHeaders, responseHeadersWithoutHopByHop } from "./hop-by-hop.js";

/** Upstream failure kinds, as counted in bulwark_upstream_errors_total. */
export type UpstreamErrorKind =
  | "refused"
  | "reset"
  | "connect_timeout"
  | "header_timeout"
  | "body_timeout"
  | "dns"
  | "tls"
  | "other";

/** Called once per proxied request with its outcome, after the response ended or failed. */
export type ProxyFinish = (
  ctx: RequestContext,
  chain: StageChain,
  upstream: string,
  outcome: ProxyOutcome,
) => void;

export interface ProxyOutcome {
  readonly error?: { readonly code: ErrorCode; readonly kind?: UpstreamErrorKind; readonly detail?: string };
  /** The client went away before the response was complete. */
  readonly clientAborted?: boolean;
}

export function classifyUpstreamError(error: unknown): { code: ErrorCode; kind: UpstreamErrorKind } {
  const code = (error as { code?: string }).code ?? "";
  switch (code) {
    case "ECONNREFUSED":
      return { code: "upstream_unavailable", kind: "refused" };
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      return { code: "upstream_unavailable", kind: "reset" };
    case "UND_ERR_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return { code: "upstream_timeout", kind: "connect_timeout" };
    case "UND_ERR_HEADERS_TIMEOUT":
      return { code: "upstream_timeout", kind: "header_timeout" };
    case "UND_ERR_BODY_TIMEOUT":
      return { code: "upstream_timeout", kind: "body_timeout" };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return { code: "upstream_unavailable", kind: "dns" };
    default:
      if (code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.includes("CERT")) {
        return { code: "upstream_unavailable", kind: "tls" };
      }
      return { code: "upstream_unavailable", kind: "other" };
  }
}

/** Whether the request carries a body (declared length above zero, chunked, or an open HTTP/2 stream). */
export function requestHasBody(req: RequestContext["req"]): boolean {
  const headers = req.headers;
  const length = headers["content-length"];
  if (length !== undefined) return length !== "0";
  // HTTP/2 has no Transfer-Encoding: a stream that is not ended after the headers carries a body.
  if ("stream" in req) return !req.stream.endAfterHeaders;
  return headers["transfer-encoding"] !== undefined;
}

/**
 * Streams the upstream answer into the client response. undici calls these methods directly
 * (Dispatcher.dispatch), so no intermediate stream, promise or async resource is created per
 * request. Backpressure: when the client response buffer is full, the upstream read is paused
 * until it drains.
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private clientGone = false;
  private done = false;

  private onDrain: (() => void) | undefined;
  /** The upstream's Content-Length, -1 when it sent none. */
  private declaredLength = -1;
  private firstChunk = true;

  constructor(
    private readonly ctx: RequestContext,
    private readonly chain: StageChain,
    private readonly group: UpstreamGroup,
    private readonly target: UpstreamTarget,
    private readonly body: BodyGuard | undefined,
    private readonly finish: ProxyFinish,
  ) {
    ctx.upstreamExchange = this;
  }

  /** The client response closed (server.ts's 'close' listener); aborts unless it had finished. */
  clientClosed(): void {
    if (this.done || this.ctx.res.writableFinished) return;
    this.clientGone = true;
    this.controller?.abort(new Error("client closed the connection"));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error("client closed the connection"));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx answers (103 Early Hints, a stray 100) are informational; the final answer follows.
    if (statusCode < 200) return;
    const head: ResponseHead = {
      status: statusCode,
      // Banners are left out while copying (the security-headers stage would otherwise delete
      // them, which makes the object slow for everything after it).
      headers: responseHeadersWithoutHopByHop(
        headers,
        this.ctx.route.headers.stripBanners ? BANNER_HEADERS : undefined,
      ),
      fromGateway: false,
    };
    try {
      runResponseStages(this.chain, this.ctx, head);
      // writeHead() only stores the head: it leaves with the first body bytes or the end.
      this.ctx.res.writeHead(head.status, head.headers);
      const length = head.headers["content-length"];
      if (typeof length === "string") this.declaredLength = Number(length);
    } catch (error) {
      // An upstream header Node refuses to send (invalid characters): answer 502, not a crash.
      controller.abort(error as Error);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.ctx.res as ServerResponse;
    let endUncorks = false;
    if (this.firstChunk) {
      this.firstChunk = false;
      // Node writes a head and the first body bytes with two system calls unless the socket is
      // corked; end() uncorks it and sends the head, the body and the end in one write. When this
      // chunk is the whole declared body, the end follows in this same parse (llhttp completes
      // the message now) and does that; otherwise the next tick uncorks. (A response with no
      // body needs neither: end() sends the head alone.) HTTP/2 streams have no cork.
      if ("cork" in res) {
        res.cork();
        if (chunk.length === this.declaredLength) endUncorks = true;
        else process.nextTick(uncork, res);
      }
    }
    if (!res.write(chunk)) {
      // A corked socket never drains: send now, then wait.
      if (endUncorks) res.uncork();
      controller.pause();
      // Made on first need: most responses never fill the client's buffer.
      this.onDrain ??= () => this.controller?.resume();
      res.once("drain", this.onDrain);
    }
  }

  onResponseEnd(): void {
    this.ctx.res.end();
    this.settle({});
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.body && isBulwarkError(this.body.errored)) {
      this.settle({ error: { code: this.body.errored.code, detail: this.body.errored.message } });
    } else if (isBulwarkError(error)) {
      this.settle({ error: { code: error.code, detail: error.message } });
    } else if (this.clientGone) {
      this.settle({ clientAborted: true });
    } else {
      this.settle({ error: classifyUpstreamError(error) });
    }
  }

  private settle(outcome: ProxyOutcome): void {
    if (this.done) return;
    this.done = true;
    if (this.ctx.upstreamExchange === this) this.ctx.upstreamExchange = null;
    if (this.body) {
      this.ctx.bytesIn = this.body.bytes;
      // An unfinished request body must not keep the client's stream flowing into nothing.
      if (outcome.error) this.body.destroy();
    }
    const kind = outcome.error?.kind;
    if (kind === "refused" || kind === "connect_timeout") this.group.eject(this.target);
    this.finish(this.ctx, this.chain, this.group.name, outcome);
  }
}

function uncork(res: ServerResponse): void {
  res.uncork();
}

/** Forwards the request; `finish` is called once with the outcome. */
export function proxyRequest(
  ctx: RequestContext,
  chain: StageChain,
  group: UpstreamGroup,
  target: UpstreamTarget,
  bodyIdleMs: number,
  finish: ProxyFinish,
): void {
  const { req, route } = ctx;
  const headers = forwardableRequestHeaders(req.rawHeaders);
  appendForwardingHeaders(ctx, headers);
  headers.push("host", group.config.hostHeader === "preserve" ? ctx.authority : target.url.host);
  for (const name in ctx.upstreamHeaders) {
    const value = ctx.upstreamHeaders[name]!;
    if (Array.isArray(value)) for (const item of value) headers.push(name, item);
    else headers.push(name, value);
  }

  const path =
    route.rewritePrefix === null ? ctx.path : rewritePath(ctx.path, route.pathPrefix, route.rewritePrefix);
  let body: BodyGuard | undefined;
  if (requestHasBody(req)) {
    body = new BodyGuard(route.limits.maxBodySize, bodyIdleMs);
    // A stage read the start of the body (request-body.ts): those bytes go first, then the rest.
    if (ctx.preReadBody) forwardPreReadBody(req, ctx.preReadBody, body);
    else {
      req.pipe(body);
      req.once("error", (error) => body!.destroy(error));
    }
  }

  const handler = new ProxyHandler(ctx, chain, group, target, body, finish);
  target.pool.dispatch(
    {
      path: target.basePath + path + ctx.query,
      method: ctx.method as Dispatcher.HttpMethod,
      headers,
      body: body ?? null,
    },
    handler,
  );
}
