// A target process for soak tests: answers "ok" on every path, and Prometheus text with its own
// resident memory on /metrics. With GROW_KB_PER_100MS set it allocates (and touches) that much
// every 100 ms and keeps it, a deliberate leak; without it, memory stays flat.
// Prints its port on stdout once listening.
import { createServer } from "node:http";

const growKb = Number(process.env.GROW_KB_PER_100MS ?? 0);
const kept = [];
if (growKb > 0) {
  setInterval(() => kept.push(Buffer.alloc(growKb * 1024, 1)), 100);
}
const server = createServer((req, res) => {
  req.resume();
  if (req.url === "/metrics") {
    res.setHeader("content-type", "text/plain; version=0.0.4");
    res.end(
      [
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge",
        `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
        "",
      ].join("\n"),
    );
    return;
  }
  res.end("ok");
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
