// A target with a known capacity, run as its own process so the generator under test does not
// share its event loop: one server that handles requests strictly one after another, each
// taking SERVICE_MS (a single-server FIFO queue). It serves at most 1000 / SERVICE_MS requests
// per second; above that its queue, and so latency, grows without bound — the breaking point is
// known exactly. Timers, not CPU, set the pace. Prints its port on stdout once listening.
import { createServer } from "node:http";

const serviceMs = Number(process.env.SERVICE_MS ?? 10);
let freeAt = 0;
const server = createServer((req, res) => {
  req.resume();
  const now = performance.now();
  freeAt = Math.max(now, freeAt) + serviceMs;
  const timer = setTimeout(() => res.end("ok"), freeAt - now);
  res.on("close", () => clearTimeout(timer));
});
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
