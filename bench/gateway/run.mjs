#!/usr/bin/env node
// Gateway benchmark: Bulwark against nginx, HAProxy and Caddy, side by side in one run, all in
// front of one shared upstream (a separate nginx instance), all on loopback.
//
//   npm run bench:gateway                      # all phases, about 6 minutes
//   node bench/gateway/run.mjs --phases reference --ablation   # what each Bulwark feature costs
//   node bench/gateway/run.mjs --help
//
// Phases: (1) throughput: closed-loop wrk, interleaved rounds, once per worker count, with each
// server's own CPU time per request; (2) fixed-rate: open-loop latency at 1,000 req/s, direct vs
// through Bulwark, interleaved rounds; (3) reference: Bulwark against a bare Node pass-through
// proxy; (4) identity: Bulwark without and with bearer JWT (RS256, ES256) and a Redis-backed rate
// limit (identity.mjs); (5) profile: CPU profiles of a single-process Bulwark and of the pass-through under wrk
// load. Prints tables and writes bench/results/gateway-<timestamp>.json (and Bulwark's
// .cpuprofile next to it).
// Every run also records how much CPU processes outside the benchmark used meanwhile.
// docs/performance.md records the command, the machine and the figures.
import { execFile } from "node:child_process";
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, cpus, release, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { identityPhase, identityTargets } from "./identity.mjs";
import {
  strictProfile,
  writeCaddyConfig,
  writeHaproxyConfig,
  writeNginxConfig,
  writeUpstreamConfig,
} from "./peers.mjs";
import {
  foreignCpuPercent,
  foreignCpuSnapshot,
  freePort,
  groupCpuTicks,
  httpGet,
  killAllNow,
  run,
  startProcess,
  stopAll,
  stopProcess,
  ticksToMs,
  waitUntilAnswering,
} from "./processes.mjs";
import { summarizeProfile } from "./profile.mjs";
import { runWrk } from "./wrk.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..", "..");
const DIST = join(ROOT, "dist");
const BULWARK_BIN = join(ROOT, "bin", "bulwark.js");
const RESULTS = join(ROOT, "bench", "results");

const HELP = `usage: node bench/gateway/run.mjs [options]      (npm run bench:gateway)

Runs nginx, HAProxy, Caddy and Bulwark as reverse proxies with equivalent hardening config in
front of one shared nginx upstream on loopback, measures them with wrk and a fixed-rate client,
profiles Bulwark, prints tables and writes bench/results/gateway-<timestamp>.json.

options:
  --workers LIST         worker counts to compare, each peer with the same count (default 1,2)
  --rounds N             interleaved wrk rounds per target (default 3)
  --duration S           seconds per wrk run (default 5)
  --warmup S             wrk warm-up seconds per target before the rounds (default 2)
  --connections N        wrk connections (default 64; one wrk thread)
  --rate N               fixed-rate test: requests per second (default 1000)
  --fixed-duration S     fixed-rate test: seconds per run (default 10)
  --fixed-rounds N       fixed-rate test: interleaved rounds (default 3)
  --phases LIST          which phases to run, in this order:
                         throughput,fixed-rate,reference,identity,profile (default all)
  --profile-duration S   seconds of wrk load while profiling Bulwark and the pass-through
                         (default 6; 0 skips)
  --ablation             also measure Bulwark without access log, and without access log and
                         header profile, against the bare Node pass-through (adds about 1 min)
  --keep-temp            keep the temporary directory (configs, access logs) for inspection
  -h, --help             this text

The identity phase runs Bulwark (1 worker) with the strict profile alone, then with a bearer JWT
(RS256, then ES256; keys from a local OpenID issuer) and two Redis-backed rate-limit rules, against
a local redis-server; target: at least 0.8 x the strict-profile-only throughput.

Needs nginx, haproxy, caddy, wrk and, for the identity phase, redis-server (Debian:
apt-get install -y nginx-light haproxy caddy wrk redis-server) and a built Bulwark (npm run build).`;

const TOOLS = [
  { bin: "nginx", pkg: "nginx-light" },
  { bin: "haproxy", pkg: "haproxy" },
  { bin: "caddy", pkg: "caddy" },
  { bin: "wrk", pkg: "wrk" },
];

const PEERS = ["nginx", "haproxy", "caddy", "bulwark"];
const LABELS = {
  direct: "upstream (direct)",
  nginx: "nginx",
  haproxy: "HAProxy",
  caddy: "Caddy",
  bulwark: "Bulwark",
};

// Hard cap on the whole run: whatever happens, children are stopped and the script exits.
const TIME_LIMIT_MS = 12 * 60 * 1000;

const log = (line = "") => process.stdout.write(`${line}\n`);

// ------------------------------------------------------------------------------ small helpers

function median(values) {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const round2 = (value) => Math.round(value * 100) / 100;
const round3 = (value) => Math.round(value * 1000) / 1000;
const fmtInt = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "n/a");
const fmtMs = (value) => (Number.isFinite(value) ? `${value.toFixed(2)} ms` : "n/a");
const fmtRatio = (value) => (Number.isFinite(value) ? value.toFixed(2) : "n/a");

// Other processes on the machine competing for the CPUs during a measurement (percent of one CPU).
const INTERFERENCE_PERCENT = 10;
function otherLoad(percent) {
  return percent !== null && percent >= INTERFERENCE_PERCENT
    ? `  [other processes used ${percent}% of a CPU]`
    : "";
}

function table(rows, align) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  return rows
    .map((row, index) => {
      const line = row
        .map((cell, column) =>
          align[column] === "r" ? String(cell).padStart(widths[column]) : String(cell).padEnd(widths[column]),
        )
        .join("  ");
      return index === 0
        ? `  ${line}\n  ${widths.map((width) => "-".repeat(width)).join("  ")}`
        : `  ${line}`;
    })
    .join("\n");
}

function locate(bin) {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

// ------------------------------------------------------------------------------ prerequisites

async function ensureTools() {
  let missing = TOOLS.filter((tool) => !locate(tool.bin));
  if (missing.length > 0) {
    const packages = missing.map((tool) => tool.pkg);
    const command = `apt-get install -y ${packages.join(" ")}`;
    if (process.getuid?.() !== 0) {
      log(`missing: ${missing.map((tool) => tool.bin).join(", ")}. Install them with:\n  sudo ${command}`);
      process.exit(2);
    }
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    log(`missing: ${missing.map((tool) => tool.bin).join(", ")}; running: ${command}`);
    let result = await run("apt-get", ["install", "-y", ...packages], { env, timeoutMs: 10 * 60 * 1000 });
    if (!result.ok) {
      log("apt-get install failed; running apt-get update and trying again");
      await run("apt-get", ["update"], { env, timeoutMs: 5 * 60 * 1000 });
      result = await run("apt-get", ["install", "-y", ...packages], { env, timeoutMs: 10 * 60 * 1000 });
    }
    missing = TOOLS.filter((tool) => !locate(tool.bin));
    if (missing.length > 0) {
      log(`could not install ${missing.map((tool) => tool.pkg).join(", ")}:\n${result.stderr.slice(-2000)}`);
      process.exit(3);
    }
  }
  return Object.fromEntries(TOOLS.map((tool) => [tool.bin, locate(tool.bin)]));
}

async function versions(bins) {
  const first = (text) =>
    text
      .split("\n")
      .find((line) => line.trim())
      ?.trim() ?? "unknown";
  const [nginx, haproxy, caddy, wrk] = await Promise.all([
    run(bins.nginx, ["-v"], { timeoutMs: 10000 }),
    run(bins.haproxy, ["-v"], { timeoutMs: 10000 }),
    run(bins.caddy, ["version"], { timeoutMs: 10000 }),
    run(bins.wrk, ["-v"], { timeoutMs: 10000 }),
  ]);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  return {
    node: process.version,
    bulwark: pkg.version,
    undici: pkg.dependencies?.undici,
    nginx: first(nginx.stderr || nginx.stdout),
    haproxy: first(haproxy.stdout),
    caddy: first(caddy.stdout),
    wrk: first(wrk.stdout || wrk.stderr),
  };
}

function machine() {
  let model = cpus()[0]?.model ?? "unknown";
  try {
    model = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? model;
  } catch {
    // not Linux
  }
  return {
    nproc: availableParallelism(),
    cpuModel: model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    platform: process.platform,
  };
}

function cpuTimes() {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: fields[3] + (fields[4] ?? 0), total: fields.reduce((sum, value) => sum + value, 0) };
  } catch {
    return undefined;
  }
}

/** Share of CPU time the whole machine spent idle over `ms` (other work skews every figure). */
async function idlePercent(ms = 1500) {
  const before = cpuTimes();
  await new Promise((done) => setTimeout(done, ms));
  const after = cpuTimes();
  if (!before || !after || after.total === before.total) return null;
  return Math.round((100 * (after.idle - before.idle)) / (after.total - before.total));
}

function gitCommit() {
  return new Promise((done) => {
    execFile("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { timeout: 5000 }, (error, stdout) =>
      done(error ? null : String(stdout).trim()),
    );
  });
}

// ------------------------------------------------------------------------------ peers

async function startUpstream(ctx) {
  const port = await freePort();
  const conf = writeUpstreamConfig(ctx.tmp, port);
  const errorLog = join(ctx.tmp, "upstream-error.log");
  const handle = startProcess(
    "upstream nginx",
    ctx.bins.nginx,
    ["-p", ctx.tmp, "-e", errorLog, "-c", conf, "-g", "daemon off;"],
    { stderrFile: join(ctx.tmp, "upstream-stderr.log") },
  );
  await waitUntilAnswering(handle, port);
  return { handle, port };
}

async function startPeer(ctx, name, workers) {
  const port = await freePort();
  const options = { port, upstreamPort: ctx.upstream.port, workers, profile: ctx.profile };
  const stderrFile = join(ctx.tmp, `${name}-w${workers}-stderr.log`);
  let handle;
  let accessLog;
  switch (name) {
    case "nginx": {
      const conf = writeNginxConfig(ctx.tmp, options);
      accessLog = join(ctx.tmp, `nginx-w${workers}-access.log`);
      handle = startProcess(
        "nginx",
        ctx.bins.nginx,
        ["-p", ctx.tmp, "-e", join(ctx.tmp, `nginx-w${workers}-error.log`), "-c", conf, "-g", "daemon off;"],
        { stderrFile },
      );
      break;
    }
    case "haproxy": {
      const conf = writeHaproxyConfig(ctx.tmp, options);
      accessLog = join(ctx.tmp, `haproxy-w${workers}-access.log`);
      handle = startProcess("haproxy", ctx.bins.haproxy, ["-db", "-f", conf], {
        stdoutFile: accessLog,
        stderrFile,
      });
      break;
    }
    case "caddy": {
      const conf = writeCaddyConfig(ctx.tmp, options);
      accessLog = join(ctx.tmp, `caddy-w${workers}-access.log`);
      const home = join(ctx.tmp, "caddy-home");
      mkdirSync(home, { recursive: true });
      handle = startProcess("caddy", ctx.bins.caddy, ["run", "--config", conf, "--adapter", "caddyfile"], {
        stderrFile,
        env: {
          ...process.env,
          HOME: home,
          XDG_CONFIG_HOME: join(home, "config"),
          XDG_DATA_HOME: join(home, "data"),
          GOMAXPROCS: String(workers),
        },
      });
      break;
    }
    case "bulwark": {
      const admin = await freePort();
      accessLog = join(ctx.tmp, `bulwark-w${workers}-access.log`);
      handle = startProcess(
        "bulwark",
        process.execPath,
        [...bulwarkArgs(ctx, port, admin), "--workers", String(workers)],
        { stdoutFile: accessLog, stderrFile, cwd: ctx.tmp },
      );
      break;
    }
    default:
      throw new Error(`unknown peer ${name}`);
  }
  await waitUntilAnswering(handle, port);
  return { name, port, handle, accessLog, workers };
}

function bulwarkArgs(ctx, port, admin) {
  return [
    BULWARK_BIN,
    "serve",
    "--upstream",
    `http://127.0.0.1:${ctx.upstream.port}`,
    "--listen",
    `127.0.0.1:${port}`,
    "--admin",
    `127.0.0.1:${admin}`,
  ];
}

/** Checks that a peer answers 200 with the profile's headers and forwards what Bulwark forwards. */
async function verifyPeer(ctx, peer) {
  const problems = [];
  const notes = [];
  const res = await httpGet(peer.port, "/");
  if (res.status !== 200) problems.push(`GET / answered ${res.status}`);
  if (res.body !== "hello\n") problems.push(`GET / body was ${JSON.stringify(res.body.slice(0, 60))}`);
  for (const header of ctx.profile.headers) {
    const value = res.headers[header.name];
    if (value !== header.value)
      problems.push(`${header.name} was ${JSON.stringify(value)}, expected ${JSON.stringify(header.value)}`);
  }
  const requestId = res.headers["x-request-id"];
  if (!requestId) problems.push("no x-request-id on the response");
  for (const banner of ctx.profile.banners) {
    const value = res.headers[banner];
    if (value === undefined) continue;
    // nginx always names itself (server_tokens off drops only the version); nginx-light has no
    // module to remove the header.
    if (peer.name === "nginx" && banner === "server" && value === "nginx")
      notes.push("sends `Server: nginx` (no version)");
    else problems.push(`banner ${banner}: ${value} was not removed`);
  }
  const echo = await httpGet(peer.port, "/__bench/echo");
  const seen = Object.fromEntries(
    echo.body
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const authority = `127.0.0.1:${peer.port}`;
  const expect = {
    host: authority,
    "x-forwarded-for": "127.0.0.1",
    "x-forwarded-proto": "http",
    "x-forwarded-host": authority,
    "x-real-ip": "127.0.0.1",
  };
  for (const [name, value] of Object.entries(expect)) {
    if (seen[name] !== value)
      problems.push(`upstream saw ${name}=${JSON.stringify(seen[name])}, expected ${JSON.stringify(value)}`);
  }
  if (!seen["x-request-id"]) problems.push("upstream saw no x-request-id");
  if (!seen.forwarded?.includes("for=127.0.0.1"))
    problems.push(`upstream saw forwarded=${JSON.stringify(seen.forwarded)}`);
  if (
    echo.headers["x-request-id"] &&
    seen["x-request-id"] &&
    echo.headers["x-request-id"] !== seen["x-request-id"]
  ) {
    notes.push("the x-request-id sent upstream differs from the one returned to the client");
  }
  return { problems, notes };
}

// ------------------------------------------------------------------------------ phases

async function throughputSet(ctx, workers) {
  log(`\n== Throughput, ${workers} worker${workers > 1 ? "s" : ""} per proxy ==`);
  const peers = [];
  for (const name of PEERS) peers.push(await startPeer(ctx, name, workers));
  ctx.running = peers;
  for (const peer of peers) {
    const { problems, notes } = await verifyPeer(ctx, peer);
    if (problems.length > 0)
      throw new Error(`${LABELS[peer.name]} is not configured equivalently:\n  - ${problems.join("\n  - ")}`);
    log(
      `  ok  ${LABELS[peer.name].padEnd(8)} 127.0.0.1:${peer.port}  200, strict headers, x-request-id, banners stripped${notes.length ? `; ${notes.join("; ")}` : ""}`,
    );
    ctx.report.verification[`${peer.name}-w${workers}`] = { ok: true, notes };
  }
  const targets = [
    { name: "direct", port: ctx.upstream.port, pgid: ctx.upstream.handle.pid },
    ...peers.map((peer) => ({ name: peer.name, port: peer.port, pgid: peer.handle.pid })),
  ];
  const wrkOptions = { connections: ctx.options.connections, threads: 1 };
  if (ctx.options.warmup > 0) {
    log(`  warm-up: ${ctx.options.warmup}s of wrk per target`);
    for (const target of targets)
      await runWrk(ctx.bins.wrk, target.port, { ...wrkOptions, seconds: ctx.options.warmup });
  }
  const rounds = Object.fromEntries(targets.map((target) => [target.name, []]));
  const set = {
    workers,
    wrk: `wrk -t1 -c${ctx.options.connections} -d${ctx.options.duration}s --latency`,
    rounds,
    medians: {},
    ratios: {},
  };
  ctx.report.throughput.push(set);
  for (let round = 0; round < ctx.options.rounds; round++) {
    // Rotate the order each round so no target always runs first or right after the same peer.
    const order = targets.map((_, index) => targets[(index + round) % targets.length]);
    for (const target of order) {
      // CPU the server itself used (all its processes and threads), whatever the scheduler gave
      // to wrk and the upstream: a measure of efficiency that contention does not distort.
      const result = await measure(ctx, target, ctx.options.duration);
      rounds[target.name].push(result);
      const errors = result.socketErrors + result.non2xx;
      log(
        `  round ${round + 1}/${ctx.options.rounds}  ${LABELS[target.name].padEnd(17)} ${fmtInt(result.rps).padStart(8)} req/s  p50 ${fmtMs(result.p50Ms).padStart(9)}  p99 ${fmtMs(result.p99Ms).padStart(9)}${errors ? `  errors ${errors}` : ""}${otherLoad(result.otherCpuPercent)}`,
      );
    }
  }
  for (const target of targets) {
    const runs = rounds[target.name];
    set.medians[target.name] = {
      rps: Math.round(median(runs.map((r) => r.rps))),
      p50Ms: round3(median(runs.map((r) => r.p50Ms))),
      p99Ms: round3(median(runs.map((r) => r.p99Ms))),
      cpuUsPerRequest: round2(median(runs.map((r) => r.cpuUsPerRequest ?? Number.NaN))),
      serverCpuPercent: Math.round(median(runs.map((r) => r.serverCpuPercent ?? Number.NaN))),
      errors: runs.reduce((sum, r) => sum + r.socketErrors + r.non2xx, 0),
    };
  }
  const m = set.medians;
  set.ratios = {
    bulwarkToNginx: round2(m.bulwark.rps / m.nginx.rps),
    bulwarkToCaddy: round2(m.bulwark.rps / m.caddy.rps),
    bulwarkToHaproxy: round2(m.bulwark.rps / m.haproxy.rps),
  };
  set.accessLogBytes = Object.fromEntries(
    peers.map((peer) => [peer.name, existsSync(peer.accessLog) ? statSync(peer.accessLog).size : 0]),
  );
  for (const peer of peers) await stopProcess(peer.handle);
  ctx.running = [];
  printThroughput(ctx, set);
}

function printThroughput(ctx, set) {
  const m = set.medians;
  const names = ["direct", ...PEERS];
  const rows = [
    [
      "target",
      "req/s",
      "p50",
      "p99",
      "vs direct",
      "CPU us/req",
      "CPU used",
      "req/s per round",
      "errors",
      "other CPU",
    ],
  ];
  for (const name of names) {
    rows.push([
      LABELS[name],
      fmtInt(m[name].rps),
      fmtMs(m[name].p50Ms),
      fmtMs(m[name].p99Ms),
      fmtRatio(m[name].rps / m.direct.rps),
      Number.isFinite(m[name].cpuUsPerRequest) ? m[name].cpuUsPerRequest.toFixed(1) : "n/a",
      Number.isFinite(m[name].serverCpuPercent) ? `${m[name].serverCpuPercent}%` : "n/a",
      set.rounds[name].map((r) => fmtInt(r.rps)).join(" / "),
      String(m[name].errors),
      `${Math.max(0, ...set.rounds[name].map((r) => r.otherCpuPercent ?? 0))}%`,
    ]);
  }
  log(
    `\n  ${set.wrk}, medians of ${ctx.options.rounds} interleaved rounds, ${set.workers} worker(s) per proxy`,
  );
  log(table(rows, ["l", "r", "r", "r", "r", "r", "r", "l", "r", "r"]));
  log(
    "  (CPU us/req and CPU used: the server's own processes, user+system, medians; other CPU: the most that\n" +
      "   processes outside the benchmark used during a round; CPU percentages are of one CPU)",
  );
  log(
    `  Bulwark/nginx ${fmtRatio(set.ratios.bulwarkToNginx)} (target >= 0.6)   Bulwark/Caddy ${fmtRatio(set.ratios.bulwarkToCaddy)} (target >= 1.5)   Bulwark/HAProxy ${fmtRatio(set.ratios.bulwarkToHaproxy)}`,
  );
  const logs = Object.entries(set.accessLogBytes)
    .map(([name, bytes]) => `${LABELS[name]} ${fmtInt(bytes / 1024)} KiB`)
    .join(", ");
  log(`  access logs written: ${logs}`);
}

function fixedRateRun(url, ctx) {
  const args = [
    join(HERE, "fixed-rate.mjs"),
    "--url",
    url,
    "--rate",
    String(ctx.options.rate),
    "--duration",
    String(ctx.options.fixedDuration),
    "--warmup",
    "1",
    "--json",
  ];
  return run(process.execPath, args, { timeoutMs: (ctx.options.fixedDuration + 20) * 1000 }).then(
    (result) => {
      if (!result.ok) throw new Error(`fixed-rate client failed (${result.code}): ${result.stderr}`);
      return JSON.parse(result.stdout);
    },
  );
}

async function fixedRatePhase(ctx) {
  log(
    `\n== Fixed rate: ${ctx.options.rate} req/s for ${ctx.options.fixedDuration}s, direct vs through Bulwark (1 worker) ==`,
  );
  const bulwark = await startPeer(ctx, "bulwark", 1);
  ctx.running = [bulwark];
  // JIT warm-up so the first round does not measure an unoptimized gateway.
  await runWrk(ctx.bins.wrk, bulwark.port, { connections: ctx.options.connections, seconds: 3 });
  const targets = {
    direct: `http://127.0.0.1:${ctx.upstream.port}/`,
    bulwark: `http://127.0.0.1:${bulwark.port}/`,
  };
  const rounds = { direct: [], bulwark: [] };
  const phase = { rate: ctx.options.rate, durationS: ctx.options.fixedDuration, bulwarkWorkers: 1, rounds };
  ctx.report.fixedRate = phase;
  for (let round = 0; round < ctx.options.fixedRounds; round++) {
    const order = round % 2 === 0 ? ["direct", "bulwark"] : ["bulwark", "direct"];
    for (const name of order) {
      const before = foreignCpuSnapshot();
      const result = await fixedRateRun(targets[name], ctx);
      result.otherCpuPercent = foreignCpuPercent(before, foreignCpuSnapshot());
      rounds[name].push(result);
      log(
        `  round ${round + 1}/${ctx.options.fixedRounds}  ${LABELS[name].padEnd(17)} p50 ${fmtMs(result.latencyMs.p50).padStart(8)}  p99 ${fmtMs(result.latencyMs.p99).padStart(8)}  (${result.completed} answered at ${result.achievedRate}/s, ${result.errors + result.non2xx} errors, send lag p50 ${fmtMs(result.sendLagMs.p50)})${otherLoad(result.otherCpuPercent)}`,
      );
    }
  }
  await stopProcess(bulwark.handle);
  ctx.running = [];
  const summary = (name) => ({
    p50Ms: round3(median(rounds[name].map((r) => r.latencyMs.p50))),
    p99Ms: round3(median(rounds[name].map((r) => r.latencyMs.p99))),
    serviceP50Ms: round3(median(rounds[name].map((r) => r.serviceMs.p50))),
    errors: rounds[name].reduce((sum, r) => sum + r.errors + r.non2xx + r.unfinished, 0),
  });
  phase.medians = { direct: summary("direct"), bulwark: summary("bulwark") };
  phase.addedP50Ms = round3(phase.medians.bulwark.p50Ms - phase.medians.direct.p50Ms);
  phase.addedP50PerRoundMs = rounds.bulwark.map((r, index) =>
    round3(r.latencyMs.p50 - rounds.direct[index].latencyMs.p50),
  );
  phase.addedP99Ms = round3(phase.medians.bulwark.p99Ms - phase.medians.direct.p99Ms);
  printFixedRate(phase);
}

/** One wrk run, plus the CPU the server's process group used meanwhile. */
async function measure(ctx, target, seconds) {
  const cpuBefore = groupCpuTicks(target.pgid);
  const result = await runWrk(ctx.bins.wrk, target.port, { connections: ctx.options.connections, seconds });
  const cpuMs = ticksToMs(cpuBefore, groupCpuTicks(target.pgid));
  result.serverCpuPercent = cpuMs === null ? null : Math.round(cpuMs / (seconds * 10));
  result.cpuUsPerRequest =
    cpuMs === null || !result.requests ? null : round2((cpuMs * 1000) / result.requests);
  return result;
}

function writeBulwarkConfig(ctx, name, port, admin, extra) {
  const file = join(ctx.tmp, `bulwark-${name}.yaml`);
  writeFileSync(
    file,
    [
      "listeners:",
      `  - address: 127.0.0.1:${port}`,
      "admin:",
      `  address: 127.0.0.1:${admin}`,
      "upstreams:",
      `  app: { targets: [http://127.0.0.1:${ctx.upstream.port}] }`,
      "routes:",
      "  - upstream: app",
      ...(extra.headers ? [`    headers: ${extra.headers}`] : []),
      ...(extra.logging ? [`logging: ${extra.logging}`] : []),
      "",
    ].join("\n"),
  );
  return file;
}

/**
 * Bulwark against the least a Node.js proxy can do (node-passthrough.mjs), one process each: the
 * gap is the cost of Bulwark's own per-request work, the rest is the platform's. With --ablation,
 * also Bulwark without its access log, and without access log, header profile and banner
 * stripping, to show what each costs.
 */
async function referencePhase(ctx) {
  const ablation = ctx.options.ablation;
  log(
    `\n== Reference: Bulwark against a bare Node pass-through proxy (node:http + undici), 1 process each${ablation ? ", with ablations" : ""} ==`,
  );
  const variants = [
    { name: "bulwark", label: "Bulwark (quick mode, as above)" },
    ...(ablation
      ? [
          { name: "no-log", label: "Bulwark, access log off", extra: { logging: "{ accessLog: false }" } },
          {
            name: "no-log-no-headers",
            label: "Bulwark, access log off, profile off, banners kept",
            extra: { logging: "{ accessLog: false }", headers: "{ profile: off, stripBanners: false }" },
          },
        ]
      : []),
    { name: "passthrough", label: "bare Node pass-through" },
  ];
  const targets = [];
  for (const variant of variants) {
    const port = await freePort();
    let args;
    if (variant.name === "passthrough") {
      args = [
        join(HERE, "node-passthrough.mjs"),
        "--listen",
        String(port),
        "--upstream",
        String(ctx.upstream.port),
      ];
    } else {
      const admin = await freePort();
      args = variant.extra
        ? [
            BULWARK_BIN,
            "serve",
            "-c",
            writeBulwarkConfig(ctx, variant.name, port, admin, variant.extra),
            "--no-watch",
          ]
        : bulwarkArgs(ctx, port, admin);
    }
    const handle = startProcess(variant.label, process.execPath, args, {
      stdoutFile: join(ctx.tmp, `reference-${variant.name}-stdout.log`),
      stderrFile: join(ctx.tmp, `reference-${variant.name}-stderr.log`),
      cwd: ctx.tmp,
    });
    ctx.running.push({ handle });
    await waitUntilAnswering(handle, port);
    targets.push({ ...variant, port, pgid: handle.pid, handle, runs: [] });
  }
  for (const target of targets)
    await runWrk(ctx.bins.wrk, target.port, { connections: ctx.options.connections, seconds: 2 });
  const rounds = ablation ? 2 : 1;
  for (let round = 0; round < rounds; round++) {
    const order = targets.map((_, index) => targets[(index + round) % targets.length]);
    for (const target of order) target.runs.push(await measure(ctx, target, ctx.options.duration));
  }
  for (const target of targets) await stopProcess(target.handle);
  ctx.running = [];
  const passthroughRps = median(targets.at(-1).runs.map((r) => r.rps));
  const rows = [["server", "req/s", "p50", "p99", "CPU us/req", "vs pass-through"]];
  ctx.report.reference = {
    note: `one process each, wrk -t1 -c${ctx.options.connections} -d${ctx.options.duration}s, median of ${rounds} interleaved run(s) after a 2 s warm-up`,
    servers: {},
  };
  for (const target of targets) {
    const rps = median(target.runs.map((r) => r.rps));
    const entry = {
      label: target.label,
      rps: Math.round(rps),
      p50Ms: round3(median(target.runs.map((r) => r.p50Ms))),
      p99Ms: round3(median(target.runs.map((r) => r.p99Ms))),
      cpuUsPerRequest: round2(median(target.runs.map((r) => r.cpuUsPerRequest ?? Number.NaN))),
      toPassthrough: round2(rps / passthroughRps),
      otherCpuPercent: Math.max(0, ...target.runs.map((r) => r.otherCpuPercent ?? 0)),
    };
    ctx.report.reference.servers[target.name] = entry;
    rows.push([
      target.label,
      fmtInt(entry.rps),
      fmtMs(entry.p50Ms),
      fmtMs(entry.p99Ms),
      Number.isFinite(entry.cpuUsPerRequest) ? entry.cpuUsPerRequest.toFixed(1) : "n/a",
      fmtRatio(entry.toPassthrough),
    ]);
  }
  log(table(rows, ["l", "r", "r", "r", "r", "r"]));
}

function printFixedRate(phase) {
  const rows = [["target", "p50", "p99", "p50 from actual send", "errors"]];
  for (const name of ["direct", "bulwark"]) {
    const m = phase.medians[name];
    rows.push([LABELS[name], fmtMs(m.p50Ms), fmtMs(m.p99Ms), fmtMs(m.serviceP50Ms), String(m.errors)]);
  }
  log(
    `\n  open loop at ${phase.rate} req/s, latency from intended send time, medians of ${phase.rounds.direct.length} rounds`,
  );
  log(table(rows, ["l", "r", "r", "r", "r"]));
  log(
    `  p50 added by Bulwark: ${fmtMs(phase.addedP50Ms)} (target <= 1 ms; per round ${phase.addedP50PerRoundMs.map(fmtMs).join(", ")}); p99 added: ${fmtMs(phase.addedP99Ms)}`,
  );
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Runs one server under `node --cpu-prof`, loads it with wrk, and summarizes the measured window. */
async function profiledRun(ctx, label, script, args, port, seconds) {
  const dir = join(ctx.tmp, `profile-${label}`);
  mkdirSync(dir, { recursive: true });
  const handle = startProcess(
    `${label} (profiled)`,
    process.execPath,
    ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", "250", script, ...args],
    {
      stdoutFile: join(ctx.tmp, `${label}-profile-stdout.log`),
      stderrFile: join(ctx.tmp, `${label}-profile-stderr.log`),
      cwd: ctx.tmp,
    },
  );
  ctx.running = [{ handle }];
  await waitUntilAnswering(handle, port);
  await runWrk(ctx.bins.wrk, port, { connections: ctx.options.connections, seconds: 2 });
  const cpuBefore = groupCpuTicks(handle.pid);
  const startUs = monotonicUs();
  const load = await runWrk(ctx.bins.wrk, port, { connections: ctx.options.connections, seconds });
  const endUs = monotonicUs();
  const cpuMs = ticksToMs(cpuBefore, groupCpuTicks(handle.pid));
  load.cpuUsPerRequest = cpuMs === null || !load.requests ? null : round2((cpuMs * 1000) / load.requests);
  await stopProcess(handle, 20000);
  ctx.running = [];
  const files = readdirSync(dir).filter((file) => file.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error(`${label}: no .cpuprofile was written (did it exit cleanly?)`);
  const file = join(dir, files[0]);
  return {
    file,
    load,
    summary: summarizeProfile(file, { window: { startUs, endUs }, requests: load.requests }),
  };
}

async function profilePhase(ctx, stamp) {
  const seconds = ctx.options.profileDuration;
  log(
    `\n== CPU profile: Bulwark (1 worker) and the bare Node pass-through, node --cpu-prof, ${seconds}s of wrk -t1 -c${ctx.options.connections} each ==`,
  );
  const upstream = `http://127.0.0.1:${ctx.upstream.port}`;
  const bulwarkPort = await freePort();
  const admin = await freePort();
  const gateway = await profiledRun(
    ctx,
    "bulwark",
    BULWARK_BIN,
    [
      "serve",
      "--upstream",
      upstream,
      "--listen",
      `127.0.0.1:${bulwarkPort}`,
      "--admin",
      `127.0.0.1:${admin}`,
      "--workers",
      "1",
    ],
    bulwarkPort,
    seconds,
  );
  const passPort = await freePort();
  const passthrough = await profiledRun(
    ctx,
    "passthrough",
    join(HERE, "node-passthrough.mjs"),
    ["--listen", String(passPort), "--upstream", String(ctx.upstream.port)],
    passPort,
    seconds,
  );
  const summary = gateway.summary;
  const kept = join(RESULTS, `gateway-${stamp}.cpuprofile`);
  copyFileSync(gateway.file, kept);
  summary.file = kept;
  summary.rpsUnderProfiler = Math.round(gateway.load.rps);
  ctx.report.profile = {
    bulwark: summary,
    passthrough: { ...passthrough.summary, file: null, rpsUnderProfiler: Math.round(passthrough.load.rps) },
  };
  log(
    `  under the profiler: Bulwark ${fmtInt(gateway.load.rps)} req/s (busy ${summary.busyPercent}%), pass-through ${fmtInt(passthrough.load.rps)} req/s (busy ${passthrough.summary.busyPercent}%)${summary.windowed ? "" : "  [profile not windowed: includes start-up]"}`,
  );
  const b = summary.componentUsPerRequest;
  const p = passthrough.summary.componentUsPerRequest;
  if (b && p) {
    const names = [...new Set([...Object.keys(b), ...Object.keys(p)])].filter((name) => name !== "idle");
    names.sort((x, y) => (b[y] ?? 0) - (b[x] ?? 0));
    const sum = (values) =>
      Object.entries(values).reduce((acc, [name, us]) => acc + (name === "idle" ? 0 : us), 0);
    const rows = [["component", "Bulwark", "pass-through", "difference"]];
    for (const name of names) {
      const bu = b[name] ?? 0;
      const pu = p[name] ?? 0;
      rows.push([name, bu.toFixed(1), pu.toFixed(1), (bu - pu >= 0 ? "+" : "") + (bu - pu).toFixed(1)]);
    }
    rows.push([
      "total busy time per request",
      sum(b).toFixed(1),
      sum(p).toFixed(1),
      `+${(sum(b) - sum(p)).toFixed(1)}`,
    ]);
    const cb = gateway.load.cpuUsPerRequest;
    const cp = passthrough.load.cpuUsPerRequest;
    rows.push([
      "CPU per request (/proc, all threads)",
      cb?.toFixed(1) ?? "n/a",
      cp?.toFixed(1) ?? "n/a",
      cb && cp ? `+${(cb - cp).toFixed(1)}` : "n/a",
    ]);
    ctx.report.profile.busyUsPerRequest = { bulwark: round2(sum(b)), passthrough: round2(sum(p)) };
    ctx.report.profile.cpuUsPerRequest = { bulwark: cb, passthrough: cp };
    log(
      "\n  microseconds per request by component, from the profiles' samples while wrk ran (wall-clock\n" +
        "  time of the main thread when not idle: it includes time the thread lost to other processes,\n" +
        "  mostly inside socket writes; native frames are charged to their JS caller):",
    );
    log(table(rows, ["l", "r", "r", "r"]));
  } else {
    log("\n  where the time goes (native frames charged to their JS caller):");
    log(
      table(
        [["component", "share"], ...summary.components.map((c) => [c.name, `${c.percent}%`])],
        ["l", "r"],
      ),
    );
  }
  log("\n  Bulwark, top self time:");
  log(
    table(
      [["function", "share"], ...summary.topSelf.slice(0, 15).map((f) => [f.name, `${f.percent}%`])],
      ["l", "r"],
    ),
  );
  log("\n  Bulwark functions, inclusive time:");
  log(
    table(
      [["function", "share"], ...summary.bulwarkInclusive.slice(0, 12).map((f) => [f.name, `${f.percent}%`])],
      ["l", "r"],
    ),
  );
  log(`  profile kept at ${kept} (open in Chrome DevTools > Performance)`);
}

function printSummary(ctx) {
  const rows = [
    ["workers", "direct", "nginx", "HAProxy", "Caddy", "Bulwark", "B/nginx", "B/Caddy", "B/HAProxy"],
  ];
  for (const set of ctx.report.throughput) {
    if (!set.ratios.bulwarkToNginx) continue;
    const m = set.medians;
    rows.push([
      String(set.workers),
      fmtInt(m.direct.rps),
      fmtInt(m.nginx.rps),
      fmtInt(m.haproxy.rps),
      fmtInt(m.caddy.rps),
      fmtInt(m.bulwark.rps),
      fmtRatio(set.ratios.bulwarkToNginx),
      fmtRatio(set.ratios.bulwarkToCaddy),
      fmtRatio(set.ratios.bulwarkToHaproxy),
    ]);
  }
  log("\n== Summary (req/s, medians) ==");
  if (rows.length > 1) log(table(rows, ["r", "r", "r", "r", "r", "r", "r", "r", "r"]));
  const targets = [];
  for (const set of ctx.report.throughput) {
    if (!set.ratios.bulwarkToNginx) continue;
    targets.push({
      check: `throughput >= 0.6 x nginx (${set.workers} worker(s))`,
      value: set.ratios.bulwarkToNginx,
      met: set.ratios.bulwarkToNginx >= 0.6,
    });
    targets.push({
      check: `throughput >= 1.5 x Caddy (${set.workers} worker(s))`,
      value: set.ratios.bulwarkToCaddy,
      met: set.ratios.bulwarkToCaddy >= 1.5,
    });
  }
  if (ctx.report.fixedRate?.addedP50Ms !== undefined) {
    const added = ctx.report.fixedRate.addedP50Ms;
    targets.push({
      check: `p50 added <= 1 ms at ${ctx.report.fixedRate.rate} req/s`,
      value: added,
      met: added <= 1,
    });
  }
  targets.push(...identityTargets(ctx.report.identity));
  ctx.report.targets = targets;
  const interference = [
    ...ctx.report.throughput.flatMap((set) => Object.values(set.rounds).flat()),
    ...(ctx.report.fixedRate ? Object.values(ctx.report.fixedRate.rounds).flat() : []),
    ...(ctx.report.identity ? Object.values(ctx.report.identity.rounds).flat() : []),
  ]
    .map((result) => result.otherCpuPercent)
    .filter((percent) => percent !== null && percent !== undefined);
  const worst = interference.length ? Math.max(...interference) : 0;
  const disturbed = interference.filter((percent) => percent >= INTERFERENCE_PERCENT).length;
  ctx.report.interference = {
    maxOtherCpuPercent: worst,
    disturbedRuns: disturbed,
    runs: interference.length,
  };
  if (disturbed > 0) {
    log(
      `  WARNING  other processes competed for the CPUs in ${disturbed} of ${interference.length} measured runs (up to ${worst}% of a CPU); rerun on a quiet machine for firm figures`,
    );
  } else {
    log(`  other processes used under ${INTERFERENCE_PERCENT}% of a CPU in every measured run`);
  }
  for (const target of targets)
    log(`  ${target.met ? "met    " : "NOT met"}  ${target.check}: ${target.value}`);
}

// ------------------------------------------------------------------------------ main

async function main() {
  const { values } = parseArgs({
    options: {
      workers: { type: "string", default: "1,2" },
      rounds: { type: "string", default: "3" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
      connections: { type: "string", default: "64" },
      rate: { type: "string", default: "1000" },
      "fixed-duration": { type: "string", default: "10" },
      "fixed-rounds": { type: "string", default: "3" },
      "profile-duration": { type: "string", default: "6" },
      "keep-temp": { type: "boolean", default: false },
      ablation: { type: "boolean", default: false },
      phases: { type: "string", default: "throughput,fixed-rate,reference,identity,profile" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    log(HELP);
    return 0;
  }
  const options = {
    workers: values.workers.split(",").map((value) => Number(value.trim())),
    rounds: Number(values.rounds),
    duration: Number(values.duration),
    warmup: Number(values.warmup),
    connections: Number(values.connections),
    rate: Number(values.rate),
    fixedDuration: Number(values["fixed-duration"]),
    fixedRounds: Number(values["fixed-rounds"]),
    profileDuration: Number(values["profile-duration"]),
    keepTemp: values["keep-temp"],
    ablation: values.ablation,
    phases: new Set(values.phases.split(",").map((phase) => phase.trim())),
  };
  const PHASES = ["throughput", "fixed-rate", "reference", "identity", "profile"];
  const unknown = [...options.phases].filter((phase) => !PHASES.includes(phase));
  if (unknown.length > 0) {
    log(`unknown phase ${unknown[0]}; phases are ${PHASES.join(", ")}`);
    return 2;
  }
  const positive = ["rounds", "duration", "connections", "rate", "fixedDuration", "fixedRounds"];
  if (
    options.workers.some((n) => !Number.isInteger(n) || n < 1) ||
    positive.some((key) => !(options[key] > 0))
  ) {
    log("invalid option value; see --help");
    return 2;
  }
  if (!existsSync(join(DIST, "cli", "main.js"))) {
    log("dist/ is missing: run `npm run build` first");
    return 2;
  }

  const bins = await ensureTools();
  const stamp = new Date()
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z");
  mkdirSync(RESULTS, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "bulwark-bench-"));
  // nginx workers may run as an unprivileged user; they only read what the master opened, but
  // keep the directory traversable for them.
  chmodSync(tmp, 0o755);
  const ctx = {
    tmp,
    bins,
    options,
    running: [],
    profile: await strictProfile(DIST),
    report: {
      kind: "bench-gateway",
      version: 1,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      partial: true,
      command: `node bench/gateway/run.mjs ${process.argv.slice(2).join(" ")}`.trim(),
      commit: await gitCommit(),
      machine: machine(),
      versions: await versions(bins),
      options,
      verification: {},
      throughput: [],
      fixedRate: null,
      reference: null,
      identity: null,
      profile: null,
      targets: [],
    },
  };
  const out = join(RESULTS, `gateway-${stamp}.json`);
  const writeReport = () => {
    ctx.report.finishedAt = new Date().toISOString();
    writeFileSync(out, `${JSON.stringify(ctx.report, null, 2)}\n`);
  };

  // Set once Ctrl-C, SIGTERM or the time limit stops the run; it exits the process when done.
  let aborting = null;
  const abort = (reason, code) => {
    if (aborting) {
      killAllNow();
      process.exit(code);
    }
    log(`\n${reason}: stopping every started process and writing the partial result`);
    aborting = stopAll(2000)
      .catch(() => {})
      .finally(() => {
        ctx.report.interrupted = reason;
        writeReport();
        log(`partial result: ${out}`);
        if (!options.keepTemp) rmSync(tmp, { recursive: true, force: true });
        process.exit(code);
      });
  };
  process.on("SIGINT", () => abort("interrupted", 130));
  process.on("SIGTERM", () => abort("terminated", 143));
  process.on("exit", () => {
    killAllNow();
    if (!options.keepTemp) rmSync(tmp, { recursive: true, force: true });
  });
  setTimeout(() => abort(`time limit of ${TIME_LIMIT_MS / 60000} minutes reached`, 3), TIME_LIMIT_MS).unref();

  const m = ctx.report.machine;
  const v = ctx.report.versions;
  const perSet = 5 * (options.warmup + options.rounds * options.duration + 1) + 5;
  const has = (phase) => (options.phases.has(phase) ? 1 : 0);
  const estimate =
    has("throughput") * perSet * options.workers.length +
    has("fixed-rate") * options.fixedRounds * 2 * (options.fixedDuration + 2) +
    has("reference") * (options.ablation ? 8 * options.duration + 20 : 2 * options.duration + 10) +
    has("identity") * (3 * (options.warmup + options.rounds * options.duration + 1) + 10) +
    has("profile") * (options.profileDuration > 0 ? 2 * (options.profileDuration + 6) : 0);
  log("Bulwark gateway benchmark");
  log(`  machine  ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}`);
  log(`  peers    ${v.nginx}; ${v.haproxy}; caddy ${v.caddy}; ${v.wrk}`);
  log(`  bulwark  ${v.bulwark} on Node ${v.node} (undici ${v.undici})`);
  log(
    `  plan     ${[...options.phases].join(", ")}; workers ${options.workers.join(" and ")}; ${options.rounds} rounds x ${options.duration}s per target; fixed rate ${options.rate}/s x ${options.fixedDuration}s x ${options.fixedRounds} rounds; about ${Math.max(1, Math.round(estimate / 60))} min`,
  );
  log(`  temp     ${tmp}`);
  const idle = await idlePercent();
  ctx.report.machine.idlePercentBeforeRun = idle;
  if (idle !== null && idle < 85) {
    log(
      `  WARNING  the machine was only ${idle}% idle before the run: other processes will skew the figures`,
    );
  }

  try {
    ctx.upstream = await startUpstream(ctx);
    log(`  upstream nginx (1 worker) on 127.0.0.1:${ctx.upstream.port}`);
    const phases = options.phases;
    if (phases.has("throughput")) for (const workers of options.workers) await throughputSet(ctx, workers);
    if (phases.has("fixed-rate")) await fixedRatePhase(ctx);
    if (phases.has("reference")) await referencePhase(ctx);
    if (phases.has("identity"))
      await identityPhase(ctx, {
        log,
        table,
        median,
        round2,
        round3,
        fmtInt,
        fmtMs,
        fmtRatio,
        otherLoad,
        locate,
        BULWARK_BIN,
      });
    if (phases.has("profile") && options.profileDuration > 0) await profilePhase(ctx, stamp);
    printSummary(ctx);
    ctx.report.partial = false;
  } catch (error) {
    // A phase fails when abort() kills its processes; abort() reports and exits by itself.
    if (aborting) await aborting;
    log(`\nbenchmark failed: ${error.message}`);
    log(
      options.keepTemp
        ? `(configs and logs kept in ${tmp})`
        : "(rerun with --keep-temp to keep the configs and logs for inspection)",
    );
    process.exitCode = 3;
  } finally {
    if (aborting) await aborting;
    await stopAll();
    writeReport();
    log(`\nresult: ${out}`);
    if (!options.keepTemp) rmSync(tmp, { recursive: true, force: true });
    else log(`temp kept: ${tmp}`);
  }
  return process.exitCode ?? 0;
}

process.exitCode = await main();
