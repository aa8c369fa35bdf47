/**
 * Forwards one request to a target of its route's upstream group and streams the answer back.
 * Bodies stream both ways with backpressure and are never buffered. undici's stream() writes
 * the upstream body straight into the client response, so no intermediate stream is created.
 */
import type { ServerResponse } from "node:http";
import type { Writable } from "node:stream";
import type { Dispatcher } from "undici";
import { type ErrorCode, isBulwarkError } from "../../errors.js";
import type { RequestContext } from "../context.js";
import { runResponseStages, type StageChain } from "../pipeline.js";
import { rewritePath } from "../request-target.js";
import type { ResponseHead } from "../stage.js";
import { BodyGuard } from "./body-guard.js";
import { appendForwardingHeaders } from "./forwarded.js";
import type { UpstreamGroup, UpstreamTarget } from "./group.js";
import { forwardableRequestHeaders, stripResponseHopByHop } from "./hop-by-hop.js";

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

function hasBody(ctx: RequestContext): boolean {
  const headers = ctx.req.headers;
  const length = headers["content-length"];
  if (length !== undefined) return length !== "0";
  // HTTP/2 has no Transfer-Encoding: a stream that is not ended after the headers carries a body.
  if ("stream" in ctx.req) return !ctx.req.stream.endAfterHeaders;
  return headers["transfer-encoding"] !== undefined;
}

export async function proxyRequest(
  ctx: RequestContext,
  chain: StageChain,
  group: UpstreamGroup,
  target: UpstreamTarget,
  bodyIdleMs: number,
): Promise<ProxyOutcome> {
  const { req, res, route } = ctx;
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
  if (hasBody(ctx)) {
    body = new BodyGuard(route.limits.maxBodySize, bodyIdleMs);
    req.pipe(body);
    req.once("error", (error) => body!.destroy(error));
  }

  const abort = new AbortController();
  const onClientClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once("close", onClientClose);

  const options: Dispatcher.RequestOptions = {
    path: target.basePath + path + ctx.query,
    method: ctx.method as Dispatcher.HttpMethod,
    headers,
    body: body ?? null,
    signal: abort.signal,
  };

  try {
    await target.pool.stream(options, function writeHead({ statusCode, headers: upstreamHeaders }) {
      const responseHeaders = upstreamHeaders as Record<string, string | string[]>;
      stripResponseHopByHop(responseHeaders);
      const head: ResponseHead = { status: statusCode, headers: responseHeaders, fromGateway: false };
      runResponseStages(chain, ctx, head);
      if ("shouldKeepAlive" in res && ctx.req.headers.connection === "close")
        (res as ServerResponse).shouldKeepAlive = false;
      res.writeHead(head.status, head.headers);
      return res as unknown as Writable;
    });
    return {};
  } catch (caught) {
    // stream() destroys the client response with the upstream's error and rejects with a
    // premature-close error: the cause is on res.errored.
    const error = (res as { errored?: unknown }).errored ?? caught;
    if (body && isBulwarkError(body.errored))
      return { error: { code: body.errored.code, detail: body.errored.message } };
    if (isBulwarkError(error)) return { error: { code: error.code, detail: error.message } };
    const upstreamCode = String((error as { code?: unknown }).code ?? "");
    if (abort.signal.aborted && !upstreamCode.startsWith("UND_ERR_")) return { clientAborted: true };
    const classified = classifyUpstreamError(error);
    if (classified.kind === "refused" || classified.kind === "connect_timeout") group.eject(target);
    return { error: classified };
  } finally {
    res.off("close", onClientClose);
    if (body) ctx.bytesIn = body.bytes;
  }
}
