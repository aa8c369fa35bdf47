/**
 * A real HTTP upstream for tests, on a free loopback port. Paths choose its behaviour:
 *   /echo            JSON of method, url, headers and the body it received
 *   /status/NNN      answers with that status
 *   /delay/MS        answers after MS milliseconds
 *   /stream/N        streams N chunks of 1 KiB, 10 ms apart
 *   /banner          answers with version banners and its own security headers
 *   anything else    200 "ok"
 * It also accepts WebSocket upgrades (ws) and echoes messages back.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

export interface TestUpstream {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  /** Requests seen, in order. */
  readonly seen: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];
  close(): Promise<void>;
}

export async function startUpstream(options: { name?: string } = {}): Promise<TestUpstream> {
  const seen: TestUpstream["seen"] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const url = req.url ?? "/";
      seen.push({ method: req.method ?? "", url, headers: req.headers, body });
      const path = url.split("?")[0]!;
      if (options.name) res.setHeader("x-upstream", options.name);
      if (path === "/echo" || path.startsWith("/echo/")) {
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            method: req.method,
            url,
            headers: req.headers,
            body,
            bytes: Buffer.concat(chunks).length,
          }),
        );
      } else if (path.startsWith("/status/")) {
        res.statusCode = Number(path.slice(8));
        res.end(`status ${res.statusCode}`);
      } else if (path.startsWith("/delay/")) {
        const timer = setTimeout(() => res.end("late"), Number(path.slice(7)));
        res.on("close", () => clearTimeout(timer));
      } else if (path.startsWith("/stream/")) {
        const count = Number(path.slice(8));
        let sent = 0;
        res.setHeader("content-type", "application/octet-stream");
        const timer = setInterval(() => {
          res.write(Buffer.alloc(1024, 97));
          if (++sent >= count) {
            clearInterval(timer);
            res.end();
          }
        }, 10);
        res.on("close", () => clearInterval(timer));
      } else if (path === "/banner") {
        res.setHeader("server", "Apache/2.4.1 (Unix)");
        res.setHeader("x-powered-by", "PHP/5.6.0");
        res.setHeader("x-aspnet-version", "4.0.30319");
        res.setHeader("content-security-policy", "default-src *");
        res.setHeader("content-type", "text/html");
        res.end("<html><body>banner</body></html>");
      } else {
        res.end("ok");
      }
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (socket, req) => {
    socket.send(JSON.stringify({ hello: true, url: req.url, headers: req.headers }));
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
