/**
 * The handler of a plaintext listener with `redirectToHttps`: every request gets a 308 to the
 * same host, path and query over HTTPS. 308 rather than 301 because it keeps the method and body
 * (RFC 9110 §15.4.9), so a POST sent to http:// is not silently turned into a GET.
 *
 * The host comes from the client, so it is checked before it goes into Location: a value such as
 * `evil.example/x`, `a@evil.example` or one carrying CR/LF would otherwise let anyone make this
 * listener redirect wherever they like (an open redirect) or split the response.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { BulwarkError } from "../errors.js";
import { PROBLEM_CONTENT_TYPE, problemBody } from "./problem.js";

/** One DNS label: letters, digits, hyphens, and underscores (common in internal names). */
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
/** A label WHATWG URL parsers would read as part of an IPv4 address (decimal, 0x hex). */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;
const PORT = /^\d{1,5}$/;
/** Bytes allowed as they are in a Location path and query; others are percent-encoded. */
const UNSAFE_IN_LOCATION = /[^\x21-\x7e]/g;

const BAD_REQUEST_BODY = problemBody("bad_request", undefined);

export function httpsRedirectHandler(httpsPort: number): (req: IncomingMessage, res: ServerResponse) => void {
  if (!Number.isInteger(httpsPort) || httpsPort < 1 || httpsPort > 65535) {
    throw new BulwarkError(
      "config_invalid",
      `the https redirect port must be an integer from 1 to 65535, got ${httpsPort}`,
    );
  }
  // RFC 3986 §3.2.3: the default port is left out.
  const portSuffix = httpsPort === 443 ? "" : `:${httpsPort}`;

  return function redirectToHttps(req: IncomingMessage, res: ServerResponse): void {
    const target = redirectTarget(req.url ?? "", req.headers.host);
    if (target === undefined) {
      res.writeHead(400, {
        "content-type": PROBLEM_CONTENT_TYPE,
        "content-length": Buffer.byteLength(BAD_REQUEST_BODY),
        "cache-control": "no-store",
        connection: "close",
      });
      res.end(BAD_REQUEST_BODY); // Node leaves the body out for HEAD
      return;
    }
    const headers: Record<string, string | number> = {
      location: `https://${target.host}${portSuffix}${target.pathAndQuery}`,
      "content-length": 0,
    };
    // Do not read an upload only to throw it away: close instead of keeping the connection.
    if (req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0) {
      headers.connection = "close";
    }
    res.writeHead(308, headers);
    res.end();
  };
}

/**
 * The host (port removed, IPv6 in brackets) and path+query to redirect to, or undefined when the
 * request does not name a valid host. An absolute-form target (`GET http://host/path`) names the
 * host itself and the Host header is ignored (RFC 9112 §3.2.2).
 */
function redirectTarget(
  url: string,
  hostHeader: string | undefined,
): { host: string; pathAndQuery: string } | undefined {
  let authority = hostHeader;
  let pathAndQuery = url;
  if (!url.startsWith("/")) {
    const absolute = /^https?:\/\/([^/?#]*)(.*)$/is.exec(url);
    if (!absolute) return undefined; // "*" (OPTIONS *) or authority-form (CONNECT) have nothing to redirect to
    authority = absolute[1];
    pathAndQuery = absolute[2]!.startsWith("/") ? absolute[2]! : `/${absolute[2]}`;
  }
  if (authority === undefined) return undefined;
  const host = hostWithoutPort(authority);
  if (host === undefined || pathAndQuery.includes("#")) return undefined;
  const safe = encodeForLocation(pathAndQuery);
  return safe === undefined ? undefined : { host, pathAndQuery: safe };
}

/** Validates `host[:port]` (RFC 9110 §7.2) and returns the host; anything else is undefined. */
function hostWithoutPort(authority: string): string | undefined {
  let host: string;
  let port: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close === -1) return undefined;
    host = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined;
      port = rest.slice(1);
    }
    // No zone identifiers: they are meaningless to another machine (RFC 9110 §4.2.2 leaves them out).
    if (isIP(host.slice(1, -1)) !== 6 || host.includes("%")) return undefined;
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon === -1 ? authority : authority.slice(0, colon);
    port = colon === -1 ? undefined : authority.slice(colon + 1);
    if (!isHostname(host)) return undefined;
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) return undefined;
  return host;
}

function isHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = (host.endsWith(".") ? host.slice(0, -1) : host).split(".");
  if (!labels.every((label) => LABEL.test(label))) return false;
  // A name ending in a numeric label is an IPv4 address to URL parsers (WHATWG "ends in a number"):
  // accept only the canonical dotted-decimal form, so the client and the Location mean the same host.
  return !NUMERIC_LABEL.test(labels[labels.length - 1]!) || isIP(host) === 4;
}

/**
 * The path and query as they came, except that bytes a header cannot carry are percent-encoded.
 * Node gives non-ASCII request-target bytes as latin1 characters, so encoding each character's
 * code restores the original bytes (e.g. UTF-8) in %XX form, as browsers send them.
 */
function encodeForLocation(pathAndQuery: string): string | undefined {
  let invalid = false;
  const encoded = pathAndQuery.replace(UNSAFE_IN_LOCATION, (char) => {
    const code = char.charCodeAt(0);
    if (code > 0xff) invalid = true;
    return `%${code.toString(16).toUpperCase().padStart(2, "0")}`;
  });
  return invalid ? undefined : encoded;
}
