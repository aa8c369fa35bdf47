/**
 * The sample upstream that `bulwark demo` puts behind the gateway. It behaves like a typical
 * unhardened app on purpose: version banners, no security headers, and an echo endpoint that
 * shows what the gateway forwarded.
 */
import { createServer, type Server } from "node:http";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bulwark demo app</title></head>
<body><h1>Hello from the sample app</h1>
<p>This page came through the Bulwark gateway. Look at the response headers.</p></body></html>
`;

export function startSampleApp(port = 0, host = "127.0.0.1"): Promise<Server> {
  const server = createServer((req, res) => {
    // Banners a real framework would send; the gateway strips them.
    res.setHeader("server", "SampleApp/1.2.3 (Ubuntu)");
    res.setHeader("x-powered-by", "Express");
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/api/hello") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ message: "hello", time: new Date().toISOString() }));
    } else if (path === "/api/echo") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }, null, 2));
    } else if (path === "/health") {
      res.setHeader("content-type", "application/json");
      res.end('{"status":"ok"}');
    } else if (path === "/") {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end(PAGE);
    } else {
      res.statusCode = 404;
      res.setHeader("content-type", "text/plain");
      res.end("not found\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
