/**
 * WebSocket (and any HTTP/1.1 Upgrade) pass-through: after routing, the gateway opens a raw
 * connection to a target, replays the request head with rebuilt forwarding headers, and then
 * splices the two sockets. The upstream's 101 answer and every frame pass through untouched.
 * Tunnels do not depend on the runtime, so a reload never drops them.
 */
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { RequestContext } from "../context.js";
import { rawProblemResponse } from "../problem.js";
import { appendForwardingHeaders } from "./forwarded.js";
import type { UpstreamTarget } from "./group.js";
import { forwardableRequestHeaders } from "./hop-by-hop.js";

const CRLF_OR_NUL = /[\r\n\0]/;

export interface TunnelOptions {
  readonly connectTimeoutMs: number;
  readonly hostHeader: "preserve" | "target";
  /** Called once when both sides are closed; `error` names the failure kind when it failed. */
  readonly onClose: (error?: string) => void;
}

export function openTunnel(
  ctx: RequestContext,
  client: Duplex,
  head: Buffer,
  target: UpstreamTarget,
  upstreamPath: string,
  options: TunnelOptions,
): Socket {
  const headers = forwardableRequestHeaders(ctx.req.rawHeaders, true);
  appendForwardingHeaders(ctx, headers);
  headers.push("host", options.hostHeader === "preserve" ? ctx.authority : target.url.host);
  for (const [name, value] of Object.entries(ctx.upstreamHeaders))
    headers.push(name, [value].flat().join(", "));

  let lines = `${ctx.method} ${upstreamPath} HTTP/1.1\r\n`;
  for (let index = 0; index < headers.length; index += 2) {
    // Node's parser already refuses CR/LF in header values; this guards the raw write anyway.
    if (CRLF_OR_NUL.test(headers[index]!) || CRLF_OR_NUL.test(headers[index + 1]!)) continue;
    lines += `${headers[index]}: ${headers[index + 1]}\r\n`;
  }
  lines += "\r\n";

  const { socket: upstream, ready } = target.connect();
  let connected = false;
  let closed = false;
  const finish = (error?: string) => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    options.onClose(error);
  };
  const timer = setTimeout(() => {
    if (connected) return;
    upstream.destroy();
    if (client.writable) client.end(rawProblemResponse("upstream_timeout"));
    finish("connect_timeout");
  }, options.connectTimeoutMs);

  upstream.once(ready, () => {
    connected = true;
    clearTimeout(timer);
    upstream.setNoDelay(true);
    upstream.write(lines);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on("error", (error: NodeJS.ErrnoException) => {
    if (!connected && client.writable) client.end(rawProblemResponse("upstream_unavailable"));
    else client.destroy();
    finish(error.code === "ECONNREFUSED" ? "refused" : "reset");
  });
  client.on("error", () => upstream.destroy());
  upstream.on("close", () => {
    client.destroy();
    finish();
  });
  client.on("close", () => upstream.destroy());
  return upstream;
}
