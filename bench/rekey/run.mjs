#!/usr/bin/env node
// `bulwark backup rekey` throughput on a synthetic repository: one logical backup whose artifact
// holds --mib MiB of incompressible data (a pg_dump -Fc of real data is mostly compressed) and
// --wal archived WAL segments of 16 MiB, all under one key. Each round re-encrypts the whole
// repository (alternating A→B and B→A, so every round has the same work) and, side by side, runs
// the floor any in-place re-encryption pays: `cp -a` of the same repository (read every byte once,
// write every byte once), with its page cache dropped neither time. Medians of the rounds and the
// ratio rekey / cp are printed and written to bench/results/rekey-<timestamp>.json.
//
//   npm run build && node bench/rekey/run.mjs [--rounds 3] [--mib 512] [--wal 16]
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, "../../dist");
const { createEncryptStream, DEFAULT_CHUNK_LOG2 } = await import(join(dist, "backup/artifact-crypto.js"));
const { generateKeyFile } = await import(join(dist, "backup/backup-key.js"));
const { manifestMac } = await import(join(dist, "backup/manifest-mac.js"));
const { LocalObjectStore } = await import(join(dist, "backup/local-object-store.js"));
const { pushWal } = await import(join(dist, "backup/wal-archive.js"));

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    mib: { type: "string", default: "512" },
    wal: { type: "string", default: "16" },
  },
});
const rounds = Number(values.rounds);
const mib = Number(values.mib);
const walCount = Number(values.wal);
const BIN = resolve(here, "../../bin/bulwark.js");

const root = mkdtempSync(join(tmpdir(), "bulwark-bench-rekey-"));
const repo = join(root, "repo");
const keys = [join(root, "a.key"), join(root, "b.key")];
const keyA = generateKeyFile(keys[0]);
generateKeyFile(keys[1]);

/** Random plaintext, generated 1 MiB at a time (not held in memory). */
function randomSource(bytes) {
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const size = Math.min(left, 1024 * 1024);
      left -= size;
      this.push(randomBytes(size));
    },
  });
}

async function makeRepository() {
  const store = new LocalObjectStore(repo);
  const id = "20261126T104900Z-3f9a1c";
  const hash = createHash("sha256");
  let size = 0;
  await pipeline(
    randomSource(mib * 1024 * 1024),
    await createEncryptStream(keyA),
    new Transform({
      transform(chunk, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    }),
    store.createWriteStream(`${id}/dump.bwenc`),
  );
  const now = new Date().toISOString();
  const unsigned = {
    kind: "bulwark-backup",
    formatVersion: 1,
    id,
    database: "bench",
    source: "postgres://bench@127.0.0.1/bench",
    serverVersion: "15",
    startedAt: now,
    finishedAt: now,
    snapshot: { id: "00000003-00000002-1", takenAt: now },
    tool: { name: "bulwark", version: "bench", pgDump: "pg_dump (PostgreSQL) 15" },
    dump: { format: "custom", compression: 1 },
    encryption: {
      algorithm: "aes-256-gcm-stream-v1",
      keyId: keyA.id,
      keyKind: "file",
      chunkSize: 2 ** DEFAULT_CHUNK_LOG2,
    },
    artifacts: [{ name: "dump.bwenc", size, sha256: hash.digest("hex") }],
    size,
    checksumAlgorithm: "bench",
    tables: [],
  };
  await store.put(
    `${id}/manifest.json`,
    `${JSON.stringify({ ...unsigned, mac: await manifestMac(unsigned, keyA) }, null, 2)}\n`,
  );
  for (let index = 1; index <= walCount; index++) {
    const name = join(root, `0000000100000000000000${index.toString(16).toUpperCase().padStart(2, "0")}`);
    writeFileSync(name, randomBytes(16 * 1024 * 1024));
    await pushWal(store, keyA, name);
    rmSync(name);
  }
  return size + walCount * (16 * 1024 * 1024 + 16 * 16 + 56);
}

function timed(argv) {
  const start = process.hrtime.bigint();
  const result = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(" ")} failed: ${result.stderr}`);
  return ms;
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

const bytes = await makeRepository();
const results = { rekey: [], cp: [] };
for (let round = 0; round < rounds; round++) {
  const [from, to] = round % 2 === 0 ? keys : [...keys].reverse();
  results.rekey.push(
    timed([
      process.execPath,
      BIN,
      "backup",
      "rekey",
      "--repo",
      repo,
      "--key-file",
      from,
      "--new-key-file",
      to,
    ]),
  );
  const copy = join(root, "copy");
  results.cp.push(timed(["cp", "-a", repo, copy]));
  rmSync(copy, { recursive: true, force: true });
}
const summary = {
  kind: "bench-rekey",
  command: `node bench/rekey/run.mjs --rounds ${rounds} --mib ${mib} --wal ${walCount}`,
  bytes,
  rounds,
  ms: results,
  medianMs: { rekey: median(results.rekey), cp: median(results.cp) },
  mibPerSecond: {
    rekey: bytes / 1024 / 1024 / (median(results.rekey) / 1000),
    cp: bytes / 1024 / 1024 / (median(results.cp) / 1000),
  },
  ratio: median(results.rekey) / median(results.cp),
};
console.log(
  `repository: ${(bytes / 1024 / 1024).toFixed(0)} MiB (one ${mib} MiB backup, ${walCount} WAL segments)`,
);
console.log(`variant   median      MiB/s   runs (ms)`);
for (const name of ["rekey", "cp"]) {
  console.log(
    `${name.padEnd(9)} ${`${summary.medianMs[name].toFixed(0)} ms`.padStart(9)} ${summary.mibPerSecond[name].toFixed(0).padStart(8)}   ${results[name].map((ms) => ms.toFixed(0)).join(", ")}`,
  );
}
console.log(`rekey / cp -a: ${summary.ratio.toFixed(2)}×`);
const out = resolve(
  here,
  "../results",
  `rekey-${new Date()
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d+Z$/, "Z")}.json`,
);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`written to ${out}`);
rmSync(root, { recursive: true, force: true });
