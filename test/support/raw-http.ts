/**
 * Raw HTTP over a TCP socket, for requests no well-behaved client would send (smuggling shapes,
 * hop-by-hop headers, malformed framing). Reads until the server closes or the timeout passes.
 */
import { connect } from "node:net";

export interface RawResponse {
  readonly text: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The server closed the connection. */
  readonly closed: boolean;
}

export function parseRawResponse(text: string, closed: boolean): RawResponse {
  const headEnd = text.indexOf("\r\n\r\n");
  const head = headEnd === -1 ? text : text.slice(0, headEnd);
  const [statusLine, ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    text,
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0),
    headers,
    body: headEnd === -1 ? "" : text.slice(headEnd + 4),
    closed,
  };
}

/** Sends bytes and collects everything until the server closes (or `waitMs` of silence). */
export function rawRequest(port: number, payload: string | Buffer, waitMs = 1500): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRawResponse(Buffer.concat(chunks).toString("latin1"), closed));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), waitMs);
    };
    socket.on("connect", () => {
      socket.write(payload);
      arm();
    });
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      arm();
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET") finish(true);
      else reject(error);
    });
  });
}
