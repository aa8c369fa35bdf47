/**
 * HTTP/1 framing checks that llhttp leaves to the application. A request that fails one is
 * answered 400 and nothing more is read from its connection: once framing is in doubt, the
 * bytes after it may be a smuggled request (RFC 9112 §6.1, §6.3, §11.2).
 */
import type { IncomingMessage } from "node:http";

// Bulwark forwards bodies decoded from chunked framing and re-frames them; any other transfer
// coding (gzip, compress, identity, empty) would be dropped or misread, so only "chunked" is taken.
const ONLY_CHUNKED = /^[ \t]*chunked[ \t]*$/i;

/** Why this HTTP/1 request's framing cannot be trusted, or undefined when it can. */
export function framingProblem(req: IncomingMessage): string | undefined {
  const transferEncoding = req.headers["transfer-encoding"];
  if (transferEncoding !== undefined) {
    if (req.httpVersion === "1.0") return "Transfer-Encoding is not allowed in HTTP/1.0";
    if (!ONLY_CHUNKED.test(transferEncoding)) return "the only Transfer-Encoding accepted is chunked";
  }
  // RFC 9112 §3.2: more than one Host line must be answered with 400.
  let hostLines = 0;
  const raw = req.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!;
    if (name.length === 4 && name.toLowerCase() === "host" && ++hostLines > 1)
      return "more than one Host header";
  }
  return undefined;
}
