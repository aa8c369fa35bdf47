#!/usr/bin/env node
// A/B of Bulwark's CPU cost per proxied request, two builds side by side, made to be read on a
// busy machine (wall-clock req/s is not; other engineers' tests share the two CPUs).
//
//   npm run build && mkdir -p /tmp/bulwark-A && cp -r dist bin package.json /tmp/bulwark-A/ \
//     && ln -sfn "$PWD/node_modules" /tmp/bulwark-A/node_modules     # keep the "before" build
//   ... change src/, npm run build ...
//   node bench/gateway/cpu-ab.mjs --a /tmp/bulwark-A                        # B = this checkout
//   node bench/gateway/cpu-ab.mjs --a /tmp/bulwark-A --callgrind 1000,11000 # instructions
//
// Both builds run in quick mode (`bulwark serve --upstream … --workers 1`: strict profile, access
// log on, written to a file, Prometheus metrics on) in front of one nginx upstream (the one
// run.mjs uses, peers.mjs). Before measuring, GET / through each must give the same status, body
// and header names and values (request ids, traceparent and Date aside), so a build that drops a
// header is caught rather than measured as "faster".
//
// Two measures, both far less sensitive to a busy machine than req/s:
// 1. CPU time per request (default): per round, wrk -t1 -c64 for --seconds against A then B (the
//    order alternates each round); the gateway's CPU (user + system, all threads, from /proc) over
//    wrk's completed requests. Medians over rounds, the median of the per-round B/A ratios, and
//    the user / system split. Contention still moves it by about ±25 % round to round.
// 2. Instructions per request (--callgrind N1,N2): each build runs under valgrind's callgrind
//    (--smc-check=all-non-file, which Node's JIT needs), once per count: start, send exactly that
//    many requests (16 keep-alive connections), stop; (Ir(N2) - Ir(N1)) / (N2 - N1) cancels
//    start-up and shutdown. About 50x slower than native: 5-8 minutes per build for 1000,11000.
//    Runs of one build still differ by about ±7 % (V8's GC and compiler threads): compare
//    several, and keep the difference of the counts at 10,000 requests or more.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { writeUpstreamConfig } from "./peers.mjs";
import {
  freePort,
  groupCpuTicks,
  httpGet,
  killAllNow,
  startProcess,
  stopAll,
  stopProcess,
  ticksToMs,
  waitUntilAnswering,
} from "./processes.mjs";
import { runWrk } from "./wrk.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const HELP = `usage: node bench/gateway/cpu-ab.mjs --a DIR [--b DIR] [options]

A/B of two Bulwark builds (DIR holds bin/bulwark.js and dist/; B defaults to this checkout):
CPU microseconds per proxied request from /proc under wrk load, or, with --callgrind,
instructions per request under valgrind. Quick mode, 1 worker, strict profile, access log on.

options:
  --a DIR            the "before" build (required)
  --b DIR            the "after" build (default: this checkout)
  --rounds N         interleaved rounds (default 7)
  --seconds S        wrk seconds per build per round (default 3)
  --warmup S         wrk warm-up seconds per build (default 2)
  --connections N    wrk connections (default 64)
  --callgrind LIST   two request counts, e.g. 1000,11000: instructions per request instead
  --only A|B         with --callgrind: measure one build only (a figure already known for the other)
  --node-flags F     with --callgrind: node options for both builds, e.g. --node-flags=--single-threaded (V8
                     compiles and collects garbage on the main thread: counts repeat far better)
  -h, --help         this text`;

const log = (line = "") => process.stdout.write(`${line}\n`);

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((x, y) => x - y);
  if (sorted.length === 0) return Number.NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function startUpstream(tmp) {
  const port = await freePort();
  const conf = writeUpstreamConfig(tmp, port);
  const handle = startProcess(
    "upstream nginx",
    "nginx",
    ["-p", tmp, "-e", join(tmp, "upstream-error.log"), "-c", conf, "-g", "daemon off;"],
    { stderrFile: join(tmp, "upstream-stderr.log") },
  );
  await waitUntilAnswering(handle, port);
  return { handle, port };
}

/** Quick mode, one process; `wrapper` (valgrind and its options) runs node when given. */
async function startBulwark(tmp, label, dir, upstreamPort, wrapper = [], nodeFlags = []) {
  const port = await freePort();
  const admin = await freePort();
  const args = [
    join(dir, "bin", "bulwark.js"),
    "serve",
    "--upstream",
    `http://127.0.0.1:${upstreamPort}`,
    "--listen",
    `127.0.0.1:${port}`,
    "--admin",
    `127.0.0.1:${admin}`,
    "--workers",
    "1",
  ];
  const [command, ...commandArgs] = [...wrapper, process.execPath, ...nodeFlags, ...args];
  const handle = startProcess(`bulwark ${label}`, command, commandArgs, {
    stdoutFile: join(tmp, `bulwark-${label}-access.log`),
    stderrFile: join(tmp, `bulwark-${label}-stderr.log`),
    cwd: tmp,
  });
  await waitUntilAnswering(handle, port, wrapper.length ? 300_000 : 15_000);
  return { label, dir, port, handle, pgid: handle.pid };
}

/** Status, body and headers of GET /, without the values that differ per request. */
async function fingerprint(port) {
  const res = await httpGet(port, "/", { timeoutMs: 60_000 });
  const headers = { ...res.headers };
  for (const name of ["date", "x-request-id", "traceparent"]) {
    if (headers[name] === undefined) throw new Error(`GET / through port ${port} has no ${name}`);
    headers[name] = "(varies)";
  }
  return JSON.stringify({ status: res.status, body: res.body, headers });
}

async function sameAnswers(a, b) {
  const [fa, fb] = [await fingerprint(a.port), await fingerprint(b.port)];
  if (fa !== fb) throw new Error(`A and B answer differently:\nA ${fa}\nB ${fb}`);
  log(`A and B answer GET / identically: ${fa}`);
}

/** User and system CPU ticks of one process (all its threads), from /proc/PID/stat. */
function userSystemTicks(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

async function cpuRound(target, options) {
  const before = groupCpuTicks(target.pgid);
  const split = userSystemTicks(target.handle.pid);
  const result = await runWrk("wrk", target.port, {
    connections: options.connections,
    seconds: options.seconds,
  });
  const cpuMs = ticksToMs(before, groupCpuTicks(target.pgid));
  const splitAfter = userSystemTicks(target.handle.pid);
  if (result.socketErrors || result.non2xx)
    throw new Error(`${target.label}: ${result.socketErrors} socket errors, ${result.non2xx} non-2xx`);
  const perRequest = (ticks) => (ticksToMs(0, ticks) * 1000) / result.requests;
  return {
    rps: result.rps,
    requests: result.requests,
    usPerRequest: (cpuMs * 1000) / result.requests,
    userUs: perRequest(splitAfter.user - split.user),
    systemUs: perRequest(splitAfter.system - split.system),
  };
}

async function cpuMode(tmp, builds, options) {
  const upstream = await startUpstream(tmp);
  const [a, b] = [
    await startBulwark(tmp, "A", builds.a, upstream.port),
    await startBulwark(tmp, "B", builds.b, upstream.port),
  ];
  await sameAnswers(a, b);
  for (const target of [a, b]) await runWrk("wrk", target.port, { seconds: options.warmup });
  const rounds = [];
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? [a, b] : [b, a];
    const got = {};
    for (const target of order) got[target.label] = await cpuRound(target, options);
    const ratio = got.B.usPerRequest / got.A.usPerRequest;
    rounds.push({ ...got, ratio });
    log(
      `round ${round + 1}: A ${got.A.usPerRequest.toFixed(1)} µs/req (${Math.round(got.A.rps)} req/s), ` +
        `B ${got.B.usPerRequest.toFixed(1)} µs/req (${Math.round(got.B.rps)} req/s), B/A ${ratio.toFixed(3)}`,
    );
  }
  const medA = median(rounds.map((r) => r.A.usPerRequest));
  const medB = median(rounds.map((r) => r.B.usPerRequest));
  log(
    `\nmedians of ${rounds.length} rounds: A ${medA.toFixed(1)} µs/req, B ${medB.toFixed(1)} µs/req; ` +
      `median of per-round B/A ${median(rounds.map((r) => r.ratio)).toFixed(3)} ` +
      `(range ${Math.min(...rounds.map((r) => r.ratio)).toFixed(3)}–${Math.max(...rounds.map((r) => r.ratio)).toFixed(3)})`,
  );
  for (const label of ["A", "B"]) {
    log(
      `${label}: user ${median(rounds.map((r) => r[label].userUs)).toFixed(1)} µs/req, system ` +
        `${median(rounds.map((r) => r[label].systemUs)).toFixed(1)} µs/req (medians; the Bulwark process only)`,
    );
  }
  log(
    `req/s (wall clock, noisy): A ${Math.round(median(rounds.map((r) => r.A.rps)))}, B ${Math.round(median(rounds.map((r) => r.B.rps)))}`,
  );
}

/** Sends exactly `count` GET / requests over `connections` keep-alive connections. */
async function sendRequests(port, count, connections = 16) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1 });
  let sent = 0;
  let failed = 0;
  const worker = async () => {
    while (sent < count) {
      sent++;
      const res = await pool.request({ path: "/", method: "GET", headersTimeout: 120_000 });
      await res.body.text();
      if (res.statusCode !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.close();
  if (failed) throw new Error(`${failed} of ${count} requests did not answer 200`);
}

function callgrindTotal(file) {
  const text = readFileSync(file, "utf8");
  const match = /^(?:summary|totals):\s+(\d+)/m.exec(text);
  if (!match) throw new Error(`no instruction total in ${file}`);
  return Number(match[1]);
}

/**
 * One gateway under callgrind per count: start, send the requests, stop; the instruction total
 * covers the whole process life. The difference between two counts cancels start-up and
 * shutdown. (Zeroing and dumping a running process with callgrind_control gave totals that
 * disagreed by 4x for one build: V8's compiler and GC threads make a running process's counts
 * depend on when the request arrives.)
 */
async function callgrindBuild(tmp, label, dir, upstreamPort, counts, nodeFlags) {
  const totals = [];
  const started = performance.now();
  for (const count of counts) {
    const out = join(tmp, `callgrind-${label}-${count}.out`);
    const wrapper = [
      "valgrind",
      "--tool=callgrind",
      "--smc-check=all-non-file",
      `--callgrind-out-file=${out}`,
    ];
    const target = await startBulwark(
      tmp,
      `${label}-callgrind-${count}`,
      dir,
      upstreamPort,
      wrapper,
      nodeFlags,
    );
    await sendRequests(target.port, count);
    await stopProcess(target.handle, 180_000);
    totals.push(callgrindTotal(out));
    rmSync(out, { force: true });
  }
  const perRequest = (totals[1] - totals[0]) / (counts[1] - counts[0]);
  log(
    `${label}: ${totals[0]} instructions with ${counts[0]} requests, ${totals[1]} with ${counts[1]}: ` +
      `${Math.round(perRequest)} per request (${((performance.now() - started) / 1000).toFixed(0)} s under valgrind)`,
  );
  return perRequest;
}

async function callgrindMode(tmp, builds, counts, options) {
  const upstream = await startUpstream(tmp);
  // Check the two builds agree before spending minutes under valgrind.
  const [a, b] = [
    await startBulwark(tmp, "A", builds.a, upstream.port),
    await startBulwark(tmp, "B", builds.b, upstream.port),
  ];
  await sameAnswers(a, b);
  await stopProcess(a.handle);
  await stopProcess(b.handle);
  const perRequest = {};
  for (let round = 0; round < options.rounds; round++) {
    for (const [label, dir] of [
      ["A", builds.a],
      ["B", builds.b],
    ].filter(([label]) => options.only === undefined || options.only === label)) {
      perRequest[label] ??= [];
      perRequest[label].push(await callgrindBuild(tmp, label, dir, upstream.port, counts, options.nodeFlags));
    }
  }
  if (options.only) return;
  const [medA, medB] = [median(perRequest.A), median(perRequest.B)];
  log(
    `\ninstructions per request: A ${Math.round(medA)}, B ${Math.round(medB)}, B/A ${(medB / medA).toFixed(3)}` +
      (options.rounds > 1 ? ` (medians of ${options.rounds} runs each)` : ""),
  );
}

async function main() {
  const { values } = parseArgs({
    options: {
      a: { type: "string" },
      b: { type: "string", default: ROOT },
      rounds: { type: "string" },
      seconds: { type: "string", default: "3" },
      warmup: { type: "string", default: "2" },
      connections: { type: "string", default: "64" },
      callgrind: { type: "string" },
      only: { type: "string" },
      "node-flags": { type: "string", default: "" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.a) {
    log(HELP);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const builds = { a: resolve(values.a), b: resolve(values.b) };
  for (const dir of Object.values(builds)) {
    if (!existsSync(join(dir, "bin", "bulwark.js")) || !existsSync(join(dir, "dist", "cli", "main.js")))
      throw new Error(`${dir} holds no built Bulwark (bin/bulwark.js and dist/cli/main.js)`);
  }
  const tmp = mkdtempSync(join(tmpdir(), "bulwark-cpu-ab-"));
  process.once("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(130));
  try {
    if (values.callgrind) {
      const counts = values.callgrind.split(",").map(Number);
      if (counts.length !== 2 || !(counts[0] > 0 && counts[1] > counts[0]))
        throw new Error("--callgrind takes two increasing request counts, e.g. 3000,6000");
      await callgrindMode(tmp, builds, counts, {
        rounds: values.rounds === undefined ? 1 : Number(values.rounds),
        only: values.only?.toUpperCase(),
        nodeFlags: values["node-flags"].split(" ").filter(Boolean),
      });
    } else {
      await cpuMode(tmp, builds, {
        rounds: Number(values.rounds ?? 7),
        seconds: Number(values.seconds),
        warmup: Number(values.warmup),
        connections: Number(values.connections),
      });
    }
    for (const file of readdirSync(tmp).filter((name) => name.endsWith("-access.log"))) {
      const lines = readFileSync(join(tmp, file), "utf8").split("\n").length - 1;
      log(`${file}: ${lines} lines`);
    }
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`cpu-ab: ${error.message}\n`);
  process.exitCode = 1;
});
