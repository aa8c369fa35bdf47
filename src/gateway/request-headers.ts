/**
 * Removing client-sent request headers before the proxy forwards them: identity headers the
 * gateway sets itself, the gateway's own cookies. Both the parsed map and rawHeaders (what the
 * proxy forwards) are cleaned.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";

/** Removes every header whose lower-case name is in `names`. */
export function stripRequestHeaders(
  req: IncomingMessage | Http2ServerRequest,
  names: ReadonlySet<string>,
): void {
  const raw = req.rawHeaders;
  for (let index = raw.length - 2; index >= 0; index -= 2) {
    if (names.has(raw[index]!.toLowerCase())) raw.splice(index, 2);
  }
  for (const name of names) delete req.headers[name];
}
