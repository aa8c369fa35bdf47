#!/usr/bin/env node
// API key verification cost, side by side in one run: the HMAC alone (the floor), the verifier
// answering from its cache (file store, Redis store), a wrong secret for a cached id, garbage,
// and a Redis round trip per verification (cacheTtl 0). Interleaved rounds; medians of ops/s
// and ratios to the HMAC alone. Uses dist/ (run `npm run build` first) and the Debian
// redis-server.
//
//   node bench/api-keys/run.mjs [--rounds 5] [--ms 400]
//
// Prints a table and writes bench/results/api-keys-<timestamp>.json.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

const dist = new URL("../../dist/security/api-keys/", import.meta.url);
const { FileStore } = await import(new URL("file-store.js", dist).href);
const { RedisKeyStore } = await import(new URL("redis-store.js", dist).href);
const { createKey } = await import(new URL("operations.js", dist).href);
const { keyDigest, pepperFrom } = await import(new URL("key-hash.js", dist).href);
const { newKey } = await import(new URL("key-format.js", dist).href);
const { createApiKeyVerifier } = await import(new URL("verifier.js", dist).href);

const { values } = parseArgs({ options: { rounds: { type: "string" }, ms: { type: "string" } } });
const ROUNDS = Number(values.rounds ?? 5);
const MS = Number(values.ms ?? 400);
const PEPPER = "bench-pepper-0123456789abcdefghijklmnopqrstuvwxyz";
const pepper = pepperFrom(PEPPER);
const log = { debug() {}, warn() {} };

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const dir = mkdtempSync(join(tmpdir(), "bulwark-bench-keys-"));
const port = await freePort();
const redis = spawn(
  "/usr/bin/redis-server",
  ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
  { stdio: "ignore" },
);
await sleep(300);
const url = `redis://127.0.0.1:${port}`;

const config = (store, overrides = {}) => ({
  pepper: PEPPER,
  store,
  cacheTtl: 60_000,
  cacheMaxEntries: 10_000,
  lastUsedInterval: 60_000,
  ...overrides,
});

const fileConfig = { type: "file", path: join(dir, "keys.json"), pollInterval: 2000 };
const redisConfig = { type: "redis", url, keyPrefix: "bench", timeout: 1000 };
const fileStore = new FileStore({ path: fileConfig.path });
const { key: fileKey } = await createKey(fileStore, pepper, { name: "bench", scopes: [], expiresAt: null });
const redisStore = new RedisKeyStore(redisConfig);
const { key: redisKey, record } = await createKey(redisStore, pepper, {
  name: "bench",
  scopes: [],
  expiresAt: null,
});
await redisStore.close();

const fileVerifier = createApiKeyVerifier(config(fileConfig), { log });
const redisVerifier = createApiKeyVerifier(config(redisConfig), { log });
const uncachedVerifier = createApiKeyVerifier(config(redisConfig, { cacheTtl: 0 }), { log });
while (!fileVerifier.ready || !redisVerifier.ready || !uncachedVerifier.ready) await sleep(20);
if (!(await fileVerifier.verify(fileKey)) || !(await redisVerifier.verify(redisKey))) {
  throw new Error("bench keys do not verify");
}
const wrong = newKey(record.id);

/** Runs `op` for about MS milliseconds; sync ops in blocks of 1000, async ones awaited one by one. */
async function measure(op, isAsync) {
  let count = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(MS) * 1_000_000n;
  while (process.hrtime.bigint() < deadline) {
    if (isAsync) {
      await op();
      count++;
    } else {
      for (let i = 0; i < 1000; i++) op();
      count += 1000;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return count / seconds;
}

const cases = [
  ["hmac-sha256 alone (floor)", () => keyDigest(pepper, fileKey), false],
  ["verify, file store (cached, sync)", () => fileVerifier.verify(fileKey), false],
  ["verify, redis store (cached, sync)", () => redisVerifier.verify(redisKey), false],
  ["verify, wrong secret for a cached id", () => redisVerifier.verify(wrong), false],
  ["verify, malformed input", () => redisVerifier.verify("bwk_not_a_key"), false],
  ["verify, redis round trip each (cacheTtl 0)", () => uncachedVerifier.verify(redisKey), true],
];

// One discarded round, so every case runs JIT-compiled.
for (const [, op, isAsync] of cases) await measure(op, isAsync);
const samples = new Map(cases.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, op, isAsync] of cases) samples.get(name).push(await measure(op, isAsync));
}
const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const floor = median(samples.get(cases[0][0]));
const rows = cases.map(([name]) => {
  const ops = median(samples.get(name));
  return {
    case: name,
    opsPerSecond: Math.round(ops),
    microsecondsPerOp: 1e6 / ops,
    ratioToHmac: ops / floor,
  };
});

const width = Math.max(...rows.map((row) => row.case.length));
console.log(
  `${"case".padEnd(width)}  ${"ops/s".padStart(10)}  ${"µs/op".padStart(8)}  ${"× hmac".padStart(7)}`,
);
for (const row of rows) {
  console.log(
    `${row.case.padEnd(width)}  ${String(row.opsPerSecond).padStart(10)}  ${row.microsecondsPerOp.toFixed(2).padStart(8)}  ${row.ratioToHmac.toFixed(2).padStart(7)}`,
  );
}
console.log(
  `medians of ${ROUNDS} interleaved rounds of ${MS} ms; ${cpus()[0]?.model ?? "cpu"} × ${cpus().length}`,
);

const results = new URL("../results/", import.meta.url);
mkdirSync(results, { recursive: true });
const stamp = new Date()
  .toISOString()
  .replace(/\.\d+Z$/, "Z")
  .replaceAll(":", "-");
writeFileSync(
  new URL(`api-keys-${stamp}.json`, results),
  `${JSON.stringify({ kind: "bench-api-keys", version: 1, rounds: ROUNDS, ms: MS, rows, samples: Object.fromEntries(samples) }, null, 2)}\n`,
);

await Promise.all([fileVerifier.close(), redisVerifier.close(), uncachedVerifier.close()]);
redis.kill("SIGKILL");
rmSync(dir, { recursive: true, force: true });
