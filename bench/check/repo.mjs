#!/usr/bin/env node
// Repository-scan benchmark: generates a synthetic repository of 10,000 files / ~100 MB
// (source-like text with identifiers, assignments and a few planted fake secrets, JSON, a
// package-lock, binary blobs) in a temp dir, then times `bulwark check repo` on it against a
// floor reference that also reads every byte: one `grep -rIE` pass with a single secret pattern.
// Both run in the same invocation, alternating, `--rounds` times; medians and the ratio are
// printed and written to bench/results/check-repo-<timestamp>.json.
//
//   npm run build && node bench/check/repo.mjs [--files 10000] [--mb 100] [--rounds 3]
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "10000" },
    mb: { type: "string", default: "100" },
    rounds: { type: "string", default: "3" },
  },
});
const FILES = Number(values.files);
const BYTES = Number(values.mb) * 1024 * 1024;
const ROUNDS = Number(values.rounds);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = join(ROOT, "bin/bulwark.js");

// Deterministic PRNG (mulberry32) so every run scans the same tree.
let seed = 0x5eed;
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const token = (n) => Array.from({ length: n }, () => ALNUM[Math.floor(random() * ALNUM.length)]).join("");

const WORDS = [
  "user",
  "order",
  "token",
  "config",
  "value",
  "request",
  "response",
  "handler",
  "secret",
  "password",
  "cache",
  "item",
  "list",
  "result",
  "error",
];
function sourceLine() {
  const kind = random();
  if (kind < 0.5)
    return `  const ${pick(WORDS)}${pick(WORDS)} = ${pick(WORDS)}.${pick(WORDS)}(${pick(WORDS)}, ${Math.floor(random() * 1000)});`;
  if (kind < 0.7) return `  // ${Array.from({ length: 8 }, () => pick(WORDS)).join(" ")}`;
  if (kind < 0.85) return `  if (${pick(WORDS)}.${pick(WORDS)} === "${pick(WORDS)}") return ${pick(WORDS)};`;
  if (kind < 0.999) return `  ${pick(WORDS)}Id: "${token(12)}",`;
  return `  apiKey: "${token(32)}",`; // a generic secret now and then
}

function generate(dir) {
  const perFile = Math.floor(BYTES / FILES);
  let written = 0;
  for (let i = 0; i < FILES; i++) {
    const folder = join(dir, `pkg${i % 100}`, `mod${Math.floor(i / 100) % 10}`);
    mkdirSync(folder, { recursive: true });
    const r = i % 50;
    if (r === 0) {
      const blob = Buffer.alloc(perFile);
      for (let j = 0; j < blob.length; j++) blob[j] = Math.floor(random() * 256);
      blob[0] = 0;
      writeFileSync(join(folder, `asset${i}.bin`), blob);
      written += blob.length;
      continue;
    }
    const lines = [];
    let size = 0;
    if (r === 1)
      lines.push(
        `const awsKey = "AKIA${token(16)
          .toUpperCase()
          .replace(/[^A-Z2-7]/g, "Q")}";`,
      );
    while (size < perFile) {
      const line = sourceLine();
      lines.push(line);
      size += line.length + 1;
    }
    const text = `export function f${i}() {\n${lines.join("\n")}\n}\n`;
    writeFileSync(
      join(folder, r === 2 ? `data${i}.json` : `file${i}.js`),
      r === 2 ? JSON.stringify({ lines }) : text,
    );
    written += text.length;
  }
  const lock = { name: "bench", lockfileVersion: 3, packages: { "": { name: "bench" } } };
  for (let i = 0; i < 2000; i++) lock.packages[`node_modules/pkg-${i}`] = { version: `1.${i % 50}.${i % 7}` };
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify(lock, null, 2));
  return written;
}

function time(command, args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { maxBuffer: 512 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, status: result.status, stdout: result.stdout.toString() };
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];

const dir = mkdtempSync(join(tmpdir(), "bulwark-bench-repo-"));
try {
  const bytes = generate(dir);
  console.log(`generated ${FILES} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${dir}`);
  const bulwark = [];
  const grep = [];
  let findings = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const run = time(process.execPath, [
      BIN,
      "check",
      "repo",
      dir,
      "--format",
      "json",
      "--no-evidence",
      "--fail-on",
      "none",
    ]);
    if (run.status !== 0) throw new Error(`bulwark exited ${run.status}`);
    findings = JSON.parse(run.stdout).findings.length;
    bulwark.push(run.ms);
    grep.push(time("grep", ["-rIEc", "AKIA[A-Z2-7]{16}", dir]).ms);
  }
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    files: FILES,
    mebibytes: Number((bytes / 1024 / 1024).toFixed(1)),
    rounds: ROUNDS,
    bulwarkMs: bulwark.map(Math.round),
    grepMs: grep.map(Math.round),
    medianBulwarkMs: Math.round(median(bulwark)),
    medianGrepMs: Math.round(median(grep)),
    ratio: Number((median(bulwark) / median(grep)).toFixed(1)),
    findings,
  };
  console.log("");
  console.log("| tool | median | runs |");
  console.log("| --- | --- | --- |");
  console.log(
    `| bulwark check repo (all rules) | ${(result.medianBulwarkMs / 1000).toFixed(2)} s | ${result.bulwarkMs.join(", ")} ms |`,
  );
  console.log(
    `| grep -rIE (one pattern) | ${(result.medianGrepMs / 1000).toFixed(2)} s | ${result.grepMs.join(", ")} ms |`,
  );
  console.log(`ratio bulwark/grep: ${result.ratio}; findings: ${findings}`);
  const out = join(
    ROOT,
    "bench/results",
    `check-repo-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
  );
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
