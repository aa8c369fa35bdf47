/**
 * A deliberately careless Node app for `check url` accuracy tests: version banners, CORS that
 * reflects any origin with credentials (null included), TRACE echo, stack traces on malformed
 * input, reflected query input, a database error on a quote, an open redirect, public metrics
 * and actuator, and a session cookie without attributes. It counts the requests it gets.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface LeakyApp {
  readonly url: string;
  readonly port: number;
  requests: number;
  close(): Promise<void>;
}

export async function startLeakyApp(): Promise<LeakyApp> {
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests += 1;
    res.setHeader("server", "LeakyApp/2.3.1");
    res.setHeader("x-powered-by", "Express");
    if (req.headers.origin) {
      res.setHeader("access-control-allow-origin", req.headers.origin);
      res.setHeader("access-control-allow-credentials", "true");
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      try {
        const raw = req.url ?? "/";
        if (req.method === "TRACE") {
          res.setHeader("content-type", "message/http");
          const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`);
          res.end(`TRACE ${raw} HTTP/1.1\r\n${headers.join("\r\n")}\r\n`);
          return;
        }
        const url = new URL(decodeURIComponent(raw), "http://app.internal");
        if (req.method === "POST") {
          JSON.parse(Buffer.concat(chunks).toString("utf8"));
          res.end("{}");
          return;
        }
        switch (url.pathname) {
          case "/": {
            const id = url.searchParams.get("id");
            if (id?.includes("'")) {
              res.statusCode = 500;
              res.end(`query failed: ERROR:  syntax error at or near "'" at character 31`);
              return;
            }
            res.setHeader("content-type", "text/html; charset=utf-8");
            res.setHeader("set-cookie", "sessionid=abc123def; Path=/");
            res.end(
              `<html><body><h1>Shop</h1><p>You searched for ${url.searchParams.get("q") ?? ""}</p></body></html>`,
            );
            return;
          }
          case "/login": {
            const next = url.searchParams.get("next");
            res.statusCode = next ? 302 : 200;
            if (next) res.setHeader("location", next);
            res.end();
            return;
          }
          case "/health":
            res.end("ok");
            return;
          case "/metrics":
            res.setHeader("content-type", "text/plain; version=0.0.4");
            res.end(
              "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total 42\n",
            );
            return;
          case "/actuator":
            res.setHeader("content-type", "application/json");
            res.end('{"_links":{"self":{"href":"/actuator"},"env":{"href":"/actuator/env"}}}');
            return;
          default:
            res.statusCode = 404;
            res.end("Not Found");
        }
      } catch (error) {
        res.statusCode = 500;
        res.setHeader("content-type", "text/plain");
        res.end((error as Error).stack);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
