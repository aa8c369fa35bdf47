/**
 * X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239). A client-sent chain is only extended
 * when the TCP peer is a trusted proxy; from anyone else the headers are replaced, so a client
 * cannot plant an address that the upstream would believe.
 */
import type { RequestContext } from "../context.js";

function forwardedNode(address: string): string {
  // RFC 7239 §6: IPv6 addresses are bracketed and the value quoted.
  return address.includes(":") ? `"[${address}]"` : address;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Nearly every request to a gateway names the same few hosts: the last answer is kept, which
// spares the pattern test per request (string equality is a plain compare).
let lastHost = "";
let lastHostQuoted = `""`;

/** RFC 7239 §4: a value that is not a token is sent as a quoted-string. */
export function quoteIfNeeded(value: string): string {
  if (value === lastHost) return lastHostQuoted;
  const quoted = TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
  lastHost = value;
  lastHostQuoted = quoted;
  return quoted;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

export function appendForwardingHeaders(ctx: RequestContext, out: string[]): void {
  const headers = ctx.req.headers;
  const proto = ctx.secure ? "https" : "http";
  const element = `for=${forwardedNode(ctx.peerIp)};host=${quoteIfNeeded(ctx.authority)};proto=${proto}`;
  if (ctx.peerTrusted) {
    const xff = single(headers["x-forwarded-for"]);
    const forwarded = single(headers.forwarded);
    out.push(
      "x-forwarded-for",
      xff ? `${xff}, ${ctx.peerIp}` : ctx.peerIp,
      "x-forwarded-proto",
      single(headers["x-forwarded-proto"])?.split(",")[0]?.trim() || proto,
      "x-forwarded-host",
      single(headers["x-forwarded-host"])?.split(",")[0]?.trim() || ctx.authority,
      "forwarded",
      forwarded ? `${forwarded}, ${element}` : element,
    );
  } else {
    out.push(
      "x-forwarded-for",
      ctx.peerIp,
      "x-forwarded-proto",
      proto,
      "x-forwarded-host",
      ctx.authority,
      "forwarded",
      element,
    );
  }
  out.push("x-real-ip", ctx.clientIp);
}
