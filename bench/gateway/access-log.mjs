#!/usr/bin/env node
// The access log in isolation, two builds side by side: CPU microseconds per line written through
// createLoggers() (asynchronous, batched, to a file descriptor, as `bulwark serve` writes to its
// stdout), with an event-loop turn every 400 lines as a server would give the writes. Rounds
// alternate the builds, each in a fresh process; medians are printed.
//
//   node bench/gateway/access-log.mjs --a /tmp/bulwark-A [--b DIR] [--rounds 5] [--lines 20000]
//
// A build directory holds dist/ (see cpu-ab.mjs for keeping a "before" copy); B defaults to this
// checkout. The record is the gateway's access record for a plain GET.
import { execFileSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

async function child(dir, lines, file) {
  const { createLoggers, flushLogger } = await import(
    pathToFileURL(join(dir, "dist", "observability", "logger.js")).href
  );
  const { logger, access } = createLoggers({ level: "info", destination: openSync(file, "w") });
  const record = (n) => ({
    type: "access",
    route: "default",
    upstream: "default",
    target: "http://127.0.0.1:8080",
    method: "GET",
    path: "/",
    status: 200,
    durationMs: 1.234,
    bytesIn: 0,
    bytesOut: 912,
    protocol: "1.1",
    requestId: `0b7c5f0e-2d7a-4c69-9a8e-${String(n).padStart(12, "0")}`,
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    clientIp: "127.0.0.1",
    userAgent: "wrk",
    referer: undefined,
    error: undefined,
    aborted: undefined,
    msg: "request",
  });
  // The gateway writes a request's line with request() (field by field) since the third CPU pass;
  // older builds have write() only.
  const line = access.request ? (r) => access.request(r) : (r) => access.write(r);
  // Warm-up (JIT), then the measured lines.
  for (let n = 0; n < 5000; n++) line(record(n));
  await new Promise((done) => setTimeout(done, 50));
  const before = process.cpuUsage();
  for (let n = 0; n < lines; n++) {
    line(record(n));
    if (n % 400 === 399) await new Promise((done) => setImmediate(done));
  }
  flushLogger(logger);
  await new Promise((done) => setTimeout(done, 300));
  const used = process.cpuUsage(before);
  process.stdout.write(`${(used.user + used.system) / lines}\n`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      a: { type: "string" },
      b: { type: "string", default: ROOT },
      rounds: { type: "string", default: "5" },
      lines: { type: "string", default: "20000" },
      child: { type: "string" },
      file: { type: "string" },
    },
  });
  const lines = Number(values.lines);
  if (values.child) return child(values.child, lines, values.file);
  if (!values.a) {
    process.stdout.write(
      "usage: node bench/gateway/access-log.mjs --a DIR [--b DIR] [--rounds N] [--lines N]\n",
    );
    process.exitCode = 2;
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), "bulwark-access-log-"));
  const results = { A: [], B: [] };
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      const order = round % 2 === 0 ? ["A", "B"] : ["B", "A"];
      for (const label of order) {
        const dir = resolve(label === "A" ? values.a : values.b);
        const file = join(tmp, `${label}.log`);
        const out = execFileSync(
          process.execPath,
          [fileURLToPath(import.meta.url), "--child", dir, "--file", file, "--lines", String(lines)],
          { encoding: "utf8", timeout: 120_000 },
        );
        const written = readFileSync(file, "utf8").split("\n").length - 1;
        if (written < lines + 5000)
          throw new Error(`${label} wrote ${written} lines, expected ${lines + 5000}`);
        results[label].push(Number(out.trim()));
      }
      process.stdout.write(
        `round ${round + 1}: A ${results.A.at(-1).toFixed(2)} µs/line, B ${results.B.at(-1).toFixed(2)} µs/line\n`,
      );
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const median = (list) => [...list].sort((x, y) => x - y)[list.length >> 1];
  const [a, b] = [median(results.A), median(results.B)];
  process.stdout.write(
    `medians: A ${a.toFixed(2)} µs/line, B ${b.toFixed(2)} µs/line, B/A ${(b / a).toFixed(2)}\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`access-log: ${error.message}\n`);
  process.exitCode = 1;
});
