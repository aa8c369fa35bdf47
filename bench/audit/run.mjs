#!/usr/bin/env node
// Audit trail write throughput: the JSONL store with durability `record` (fsync before each
// acknowledgement, group commit) against `batch` (fsync at most every 200 ms), side by side in
// interleaved rounds, plus fire-and-forget record() for reference. Runs dist/ (npm run build).
//
//   node bench/audit/run.mjs [--rounds 5] [--seconds 3] [--concurrency 64]
//
// Prints a table (medians of the rounds, ratios to `record`) and writes
// bench/results/audit-<timestamp>.json. docs/performance.md records the command and the figures.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { auditSchema } = await import(join(root, "dist/audit/schema.js"));
const { createAuditTrail } = await import(join(root, "dist/audit/trail.js"));
const { generateSigningKeyPair } = await import(join(root, "dist/audit/signing.js"));

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.error("usage: node bench/audit/run.mjs [--rounds N] [--seconds S] [--concurrency C]");
  process.exit(0);
}
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

const work = mkdtempSync(join(tmpdir(), "bulwark-bench-audit-"));
const keyFile = join(work, "audit.key");
writeFileSync(keyFile, generateSigningKeyPair().privatePem, { mode: 0o600 });

const event = (i) => ({
  action: "request",
  outcome: "success",
  subject: `user-${i % 100}`,
  resource: { route: "/api/patients/:id", id: String(i) },
  method: "GET",
  status: 200,
  clientIp: "192.0.2.1",
  requestId: `req-${i}`,
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
});

// Writes (one per drained batch, each followed by an fsync with durability record) and records:
// records per write shows the group commit at work.
let writes = 0;
let written = 0;
const observer = {
  recorded: (n) => {
    writes += 1;
    written += n;
  },
};

function trail(durability, dir) {
  return createAuditTrail(
    auditSchema.parse({
      store: { type: "jsonl", dir, durability },
      signingKey: keyFile,
      queueSize: 1_000_000,
    }),
    { observer },
  );
}

/** recordDurable with `concurrency` in flight for `seconds`: acknowledged records per second. */
async function durable(durability, dir) {
  const audit = trail(durability, dir);
  const deadline = performance.now() + seconds * 1000;
  let acked = 0;
  let next = 0;
  const lane = async () => {
    while (performance.now() < deadline) {
      await audit.recordDurable(event(next++));
      acked += 1;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const elapsed = (performance.now() - start) / 1000;
  await audit.close();
  return acked / elapsed;
}

/** record() in bursts of 1000, then flush: written records per second. */
async function fireAndForget(durability, dir) {
  const audit = trail(durability, dir);
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 1000; i++) audit.record(event(count++));
    await audit.flush();
  }
  const elapsed = (performance.now() - start) / 1000;
  await audit.close();
  return count / elapsed;
}

const scenarios = [
  { name: "recordDurable, durability record", run: (dir) => durable("record", dir) },
  { name: "recordDurable, durability batch (200 ms)", run: (dir) => durable("batch", dir) },
  { name: "record() + flush, durability record", run: (dir) => fireAndForget("record", dir) },
  { name: "record() + flush, durability batch", run: (dir) => fireAndForget("batch", dir) },
];
const results = Object.fromEntries(scenarios.map((s) => [s.name, []]));
const cpu = Object.fromEntries(scenarios.map((s) => [s.name, []]));
const perWrite = Object.fromEntries(scenarios.map((s) => [s.name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const scenario of scenarios) {
    const dir = join(work, `r${round}-${scenarios.indexOf(scenario)}`);
    writes = 0;
    written = 0;
    const before = process.cpuUsage();
    const rate = await scenario.run(dir);
    const used = process.cpuUsage(before);
    rmSync(dir, { recursive: true, force: true });
    results[scenario.name].push(rate);
    // This process's CPU time per record: steadier than records/s on a shared machine.
    cpu[scenario.name].push((used.user + used.system) / written);
    perWrite[scenario.name].push(written / writes);
    console.error(
      `round ${round}: ${scenario.name}: ${Math.round(rate)} records/s, ${(cpu[scenario.name].at(-1)).toFixed(1)} µs CPU/record, ${(written / writes).toFixed(1)} records/write`,
    );
  }
}
rmSync(work, { recursive: true, force: true });

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const base = median(results[scenarios[0].name]);
console.log(`\naudit write throughput: ${rounds} rounds of ${seconds} s, ${concurrency} in flight (medians)`);
console.log("| scenario | records/s | × durability record | µs CPU/record | records/write |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const scenario of scenarios) {
  const value = median(results[scenario.name]);
  console.log(
    `| ${scenario.name} | ${Math.round(value)} | ${(value / base).toFixed(2)} | ${median(cpu[scenario.name]).toFixed(1)} | ${median(perWrite[scenario.name]).toFixed(1)} |`,
  );
}
const out = join(
  root,
  "bench",
  "results",
  `audit-${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}Z.json`,
);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ kind: "bench-audit", version: 1, rounds, seconds, concurrency, results, cpuMicrosPerRecord: cpu, recordsPerWrite: perWrite }, null, 2)}\n`,
);
console.log(`\nwrote ${out}`);
