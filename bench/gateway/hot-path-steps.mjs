#!/usr/bin/env node
// The small per-request steps the third CPU pass changed, each before and after, in isolation:
// nanoseconds per request for each, medians of alternating rounds. The code of each variant is
// copied here from the gateway (before: commit 00e3995; after: this checkout), as header-object.mjs
// does, so both run in one process under the same conditions. Request-derived strings are made
// fresh for every iteration, as the HTTP parser makes them, so caches compare contents, not
// identical string objects.
//
//   node bench/gateway/hot-path-steps.mjs [--rounds 7]
import { randomFillSync } from "node:crypto";
import { EventEmitter } from "node:events";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "7" } } });
const ROUNDS = Number(values.rounds);

// Fresh strings with the same contents, as each request's parsed headers are.
const fresh = (text) => Buffer.from(text, "latin1").toString("latin1");

// --- Host header check (server.ts arrive())
const HOST_HEADER =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
function hostOf(authority) {
  if (authority.startsWith("[")) return authority.slice(0, authority.indexOf("]") + 1).toLowerCase();
  const colon = authority.indexOf(":");
  const host = colon === -1 ? authority : authority.slice(0, colon);
  return (host.endsWith(".") ? host.slice(0, -1) : host).toLowerCase();
}
let lastAuthority;
let lastHost = "";
function validHostOf(authority) {
  if (authority === lastAuthority) return lastHost;
  if (authority.length > 255 || !HOST_HEADER.test(authority)) return undefined;
  lastHost = hostOf(authority);
  lastAuthority = authority;
  return lastHost;
}
const hostBefore = (authority) => {
  const valid = authority.length <= 255 && HOST_HEADER.test(authority);
  return valid ? hostOf(authority) : "";
};
const hostAfter = (authority) => validHostOf(authority) ?? "";

// --- Forwarded host quoting (upstream/forwarded.ts)
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const quoteBefore = (value) =>
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
let lastQuoted = "";
let lastQuotedValue = `""`;
function quoteAfter(value) {
  if (value === lastQuoted) return lastQuotedValue;
  const quoted = TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
  lastQuoted = value;
  lastQuotedValue = quoted;
  return quoted;
}

// --- Trace ids (random-ids.ts, stages/trace-context.ts)
const POOL = Buffer.alloc(4096);
let offset = POOL.length;
function randomHex(bytes) {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString("hex", offset, offset + bytes);
  offset += bytes;
  return hex;
}
const idsBefore = () => {
  const spanId = randomHex(8);
  return { traceId: randomHex(16), spanId, flags: "01" };
};
const idsAfter = () => {
  const ids = randomHex(24);
  return { traceId: ids.slice(0, 32), spanId: ids.slice(32), flags: "01" };
};

// --- Connection header search over the request's raw headers (upstream/hop-by-hop.ts)
const BROWSER_HEADERS = [
  "Host",
  "User-Agent",
  "Accept",
  "Accept-Language",
  "Accept-Encoding",
  "Referer",
  "Connection",
  "Cookie",
  "Upgrade-Insecure-Requests",
  "Sec-Fetch-Dest",
  "Sec-Fetch-Mode",
  "Sec-Fetch-Site",
];
const connectionBefore = (raw) => {
  let found = 0;
  for (let index = 0; index < raw.length; index++) if (raw[index].toLowerCase() === "connection") found++;
  return found;
};
const connectionAfter = (raw) => {
  let found = 0;
  for (let index = 0; index < raw.length; index++) {
    const name = raw[index];
    if (name.length === 10 && name.toLowerCase() === "connection") found++;
  }
  return found;
};

// --- The response's close listener (server.ts handle())
const closeBefore = (emitter, done) => {
  emitter.once("close", () => done());
  emitter.emit("close");
};
const closeAfter = (emitter, done) => {
  let closed = false;
  emitter.on("close", () => {
    if (closed) return;
    closed = true;
    done();
  });
  emitter.emit("close");
};

let sink = 0;
const count = () => {
  sink++;
};

const steps = [
  {
    name: "Host check and host (arrive)",
    n: 1_000_000,
    before: () => (sink += hostBefore(fresh("127.0.0.1:8080")).length),
    after: () => (sink += hostAfter(fresh("127.0.0.1:8080")).length),
  },
  {
    name: "Forwarded host quoting",
    n: 1_000_000,
    before: () => (sink += quoteBefore(fresh("127.0.0.1:8080")).length),
    after: () => (sink += quoteAfter(fresh("127.0.0.1:8080")).length),
  },
  {
    name: "trace and span ids of a new trace",
    n: 1_000_000,
    before: () => (sink += idsBefore().traceId.length),
    after: () => (sink += idsAfter().traceId.length),
  },
  {
    name: "Connection search, 12 browser headers",
    n: 500_000,
    before: () => (sink += connectionBefore(BROWSER_HEADERS.map(fresh))),
    after: () => (sink += connectionAfter(BROWSER_HEADERS.map(fresh))),
  },
  {
    name: "close listener: add and emit",
    n: 500_000,
    before: () => closeBefore(new EventEmitter(), count),
    after: () => closeAfter(new EventEmitter(), count),
  },
];

/** Runs fn n times; ns per call. */
function time(fn, n) {
  const started = process.hrtime.bigint();
  for (let index = 0; index < n; index++) fn();
  return Number(process.hrtime.bigint() - started) / n;
}

/** One nextTick per response (the uncork the pass removed for complete bodies), run to completion. */
async function tickCost(n, withTick) {
  const noop = (value) => {
    sink += value;
  };
  const started = process.hrtime.bigint();
  for (let batch = 0; batch < n / 1000; batch++) {
    for (let index = 0; index < 1000; index++) if (withTick) process.nextTick(noop, 1);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return Number(process.hrtime.bigint() - started) / n;
}

const median = (list) => [...list].sort((x, y) => x - y)[list.length >> 1];
const results = steps.map(() => ({ before: [], after: [] }));
const tick = { before: [], after: [] };
// Warm-up (JIT) before the measured rounds.
for (const step of steps) {
  time(step.before, step.n / 4);
  time(step.after, step.n / 4);
}
for (let round = 0; round < ROUNDS; round++) {
  for (const [index, step] of steps.entries()) {
    const order = round % 2 === 0 ? ["before", "after"] : ["after", "before"];
    for (const variant of order) results[index][variant].push(time(step[variant], step.n));
  }
  tick.before.push(await tickCost(200_000, true));
  tick.after.push(await tickCost(200_000, false));
}
process.stdout.write(`medians of ${ROUNDS} rounds, ns per request:\n`);
for (const [index, step] of steps.entries()) {
  const before = median(results[index].before);
  const after = median(results[index].after);
  process.stdout.write(
    `  ${step.name.padEnd(40)} before ${before.toFixed(0).padStart(5)}  after ${after.toFixed(0).padStart(5)}  saved ${(before - after).toFixed(0).padStart(5)}\n`,
  );
}
const tickBefore = median(tick.before);
const tickAfter = median(tick.after);
process.stdout.write(
  `  ${"nextTick uncork per response".padEnd(40)} before ${tickBefore.toFixed(0).padStart(5)}  after ${tickAfter.toFixed(0).padStart(5)}  saved ${(tickBefore - tickAfter).toFixed(0).padStart(5)}\n`,
);
if (sink === 0) process.stdout.write("\n");
