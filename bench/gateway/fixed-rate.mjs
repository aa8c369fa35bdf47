#!/usr/bin/env node
// Open-loop, fixed-rate HTTP client: requests are scheduled at intended send times
// (start + i / rate) whether or not earlier ones have been answered, and each latency is measured
// from the request's intended send time, so a stall is charged to every request it delayed
// (no coordinated omission, as in wrk2 and HdrHistogram's guidance). Percentiles come from the
// sorted samples.
//
// Requests are released by a ticker thread (below); the remaining lag between the intended and
// the actual send is the same whatever the target, is part of the reported latency, and is
// reported separately as sendLagMs. `serviceMs` is measured from the actual send instead.
//
//   node bench/gateway/fixed-rate.mjs --url http://127.0.0.1:8080/ --rate 1000 --duration 10
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { Pool } from "undici";

// The ticker thread sleeps precisely until each intended send time (Atomics.wait takes fractional
// milliseconds and blocks in a futex, without spinning) and tells the main thread how many
// requests are due. Node's own timers have 1 ms granularity, which would add up to 1 ms of send
// lag to every request; the main thread's event loop stays free to read responses.
const TICKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { start, interval, total } = workerData;
const cell = new Int32Array(new SharedArrayBuffer(4));
const clock = () => performance.timeOrigin + performance.now();
let due = 0;
while (due < total) {
  const now = clock();
  const next = start + due * interval;
  if (next > now) {
    Atomics.wait(cell, 0, 0, next - now);
    continue;
  }
  while (due < total && start + due * interval <= now) due++;
  parentPort.postMessage(due);
}
`;

function percentile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index];
}

function summarize(samples, count) {
  const sorted = samples.subarray(0, count).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  const round = (value) => Math.round(value * 1000) / 1000;
  return {
    p50: round(percentile(sorted, 0.5)),
    p90: round(percentile(sorted, 0.9)),
    p99: round(percentile(sorted, 0.99)),
    p999: round(percentile(sorted, 0.999)),
    max: round(sorted.length ? sorted[sorted.length - 1] : Number.NaN),
    mean: round(sorted.length ? sum / sorted.length : Number.NaN),
  };
}

/**
 * Sends `rate` requests per second for `durationS` seconds (after `warmupS` seconds at the same
 * rate that are not recorded) and resolves with latency percentiles in milliseconds.
 */
export async function runFixedRate({
  url,
  rate = 1000,
  durationS = 10,
  warmupS = 1,
  connections = 32,
  timeoutMs = 5000,
}) {
  const target = new URL(url);
  const pool = new Pool(target.origin, {
    connections,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
  });
  const path = target.pathname + target.search;
  const interval = 1000 / rate;
  // Absolute clock (ms since the epoch, sub-ms precision), the same in the ticker thread.
  const clock = () => performance.timeOrigin + performance.now();
  const warmupCount = Math.round(rate * warmupS);
  const total = warmupCount + Math.round(rate * durationS);
  const measured = total - warmupCount;
  const latency = new Float64Array(measured);
  const service = new Float64Array(measured);
  const lag = new Float64Array(measured);
  let recorded = 0;
  let errors = 0;
  let non2xx = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let settle;
  const allSettled = new Promise((resolve) => {
    settle = resolve;
  });
  let scheduled = 0;
  let finished = 0;

  const fire = (index, intended) => {
    const sentAt = clock();
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    pool
      .request({ path, method: "GET" })
      .then(async ({ statusCode, body }) => {
        await body.dump();
        const done = clock();
        if (statusCode < 200 || statusCode >= 400) non2xx++;
        if (index >= warmupCount) {
          latency[recorded] = done - intended;
          service[recorded] = done - sentAt;
          lag[recorded] = sentAt - intended;
          recorded++;
        }
      })
      .catch(() => {
        errors++;
      })
      .finally(() => {
        inFlight--;
        finished++;
        if (finished === total) settle();
      });
  };

  const start = clock() + 50;
  const startedAt = new Date().toISOString();
  await new Promise((resolve, reject) => {
    const ticker = new Worker(TICKER, { eval: true, workerData: { start, interval, total } });
    ticker.on("message", (due) => {
      for (; scheduled < due; scheduled++) fire(scheduled, start + scheduled * interval);
      if (scheduled >= total) resolve();
    });
    ticker.once("error", reject);
    ticker.once("exit", () =>
      scheduled >= total ? resolve() : reject(new Error("ticker thread stopped early")),
    );
  });
  const sendEnd = clock();
  const drained = await Promise.race([
    allSettled.then(() => true),
    new Promise((resolve) => setTimeout(() => resolve(false), timeoutMs + 1000).unref()),
  ]);
  await pool.destroy();
  const sendSeconds = Math.max(0.001, (sendEnd - start) / 1000);
  return {
    kind: "fixed-rate",
    url,
    startedAt,
    finishedAt: new Date().toISOString(),
    rate,
    durationS,
    warmupS,
    sent: total - warmupCount,
    completed: recorded,
    errors,
    non2xx,
    unfinished: drained ? 0 : total - finished,
    achievedRate: Math.round(total / sendSeconds),
    maxInFlight,
    latencyMs: summarize(latency, recorded),
    serviceMs: summarize(service, recorded),
    sendLagMs: summarize(lag, recorded),
  };
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      rate: { type: "string", default: "1000" },
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "1" },
      connections: { type: "string", default: "32" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.url) {
    process.stderr.write(
      "usage: node bench/gateway/fixed-rate.mjs --url URL [--rate 1000] [--duration 10] [--warmup 1] [--connections 32] [--json]\n",
    );
    process.exit(values.help ? 0 : 2);
  }
  const result = await runFixedRate({
    url: values.url,
    rate: Number(values.rate),
    durationS: Number(values.duration),
    warmupS: Number(values.warmup),
    connections: Number(values.connections),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const { latencyMs: l, serviceMs: s, sendLagMs: g } = result;
    process.stdout.write(
      `${result.url} at ${result.rate}/s for ${result.durationS}s: ${result.completed} answered, ${result.errors} errors, ${result.non2xx} non-2xx\n` +
        `  latency from intended send: p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms\n` +
        `  latency from actual send:   p50 ${s.p50} ms  p99 ${s.p99} ms\n` +
        `  send lag (timer):           p50 ${g.p50} ms  p99 ${g.p99} ms\n`,
    );
  }
}
