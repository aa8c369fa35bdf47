#!/usr/bin/env node
// What reading a sign-in body costs, side by side in one run: one Bulwark process (1 worker,
// strict profile, access log on, brute-force protection on) in front of one upstream, with four
// routes, each sent the same kind of POST by wrk (closed loop, 64 connections):
//
//   (a) stream   no loginEndpoint: the body streams to the upstream (the gateway core);
//   (b) header   loginEndpoint, account from a header: the body still streams;
//   (c) form     loginEndpoint { account: { form: username } }: the body is pre-read and parsed;
//   (d) json     loginEndpoint { account: { json: /user/email } }: the same with a JSON body.
//
// The upstream answers 200, so every request is a successful sign-in (one store reset each on
// (b) to (d)). Rounds interleave the variants; the table shows medians of req/s and p99 and
// ratios to (a). Runs the gateway from src/ through tsx (no build needed), /usr/bin/wrk.
//
//   node bench/login-body/run.mjs [--rounds 3] [--seconds 5]
//
// Writes bench/results/login-body-<timestamp>.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { run, startProcess, stopProcess } from "../gateway/processes.mjs";
import { parseWrk } from "../gateway/wrk.mjs";
import { summarizeVariants, writeVariantResult } from "../variant-summary.mjs";

const { values } = parseArgs({ options: { rounds: { type: "string" }, seconds: { type: "string" } } });
const ROUNDS = Number(values.rounds ?? 3);
const SECONDS = Number(values.seconds ?? 5);
const ROOT = new URL("../../", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "bulwark-bench-login-body-"));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const FORM = `username=alice%40example.test&password=correct+horse+battery+staple&remember=1&${"x".repeat(200)}`;
const JSON_BODY = JSON.stringify({
  user: { email: "alice@example.test" },
  password: "correct horse battery staple",
  remember: true,
  pad: "x".repeat(200),
});
const variants = [
  { name: "stream", path: "/stream", type: "application/x-www-form-urlencoded", body: FORM },
  { name: "header", path: "/header", type: "application/x-www-form-urlencoded", body: FORM },
  { name: "form", path: "/form", type: "application/x-www-form-urlencoded", body: FORM },
  { name: "json", path: "/json", type: "application/json", body: JSON_BODY },
];

const upstreamPort = await freePort();
const gatewayPort = await freePort();
const UPSTREAM_SCRIPT = `require("node:http").createServer((q, s) => { q.resume(); q.on("end", () => s.end("ok")); }).listen(${upstreamPort}, "127.0.0.1")`;
const upstream = startProcess("upstream", process.execPath, ["-e", UPSTREAM_SCRIPT]);

const configFile = join(tmp, "bulwark.yaml");
writeFileSync(
  configFile,
  `${[
    "version: 1",
    `listeners: [{ address: "127.0.0.1:${gatewayPort}" }]`,
    'admin: { address: "127.0.0.1:0" }',
    "server:",
    "  workers: 1",
    "  bruteForce: { maxFailures: 1000000 }",
    `upstreams: { app: { targets: ["http://127.0.0.1:${upstreamPort}"] } }`,
    "logging: { level: info, accessLog: true }",
    "defaults: { headers: { profile: strict } }",
    "routes:",
    "  - { name: stream, match: { pathPrefix: /stream }, upstream: app }",
    "  - { name: header, match: { pathPrefix: /header }, upstream: app, loginEndpoint: { account: { header: X-Login } } }",
    "  - { name: form, match: { pathPrefix: /form }, upstream: app, loginEndpoint: { account: { form: username } } }",
    "  - { name: json, match: { pathPrefix: /json }, upstream: app, loginEndpoint: { account: { json: /user/email } } }",
  ].join("\n")}\n`,
);

// wrk sends each variant's POST through a Lua script (method, headers, body), never a shell.
for (const variant of variants) {
  variant.script = join(tmp, `${variant.name}.lua`);
  writeFileSync(
    variant.script,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(variant.body)}`,
      `wrk.headers["Content-Type"] = "${variant.type}"`,
      'wrk.headers["X-Login"] = "alice@example.test"',
      "",
    ].join("\n"),
  );
}

async function wrk(variant, seconds) {
  const args = ["-s", variant.script, "-t1", "-c64", `-d${seconds}s`, "--timeout", "5s", "--latency"];
  const result = await run("/usr/bin/wrk", [...args, `http://127.0.0.1:${gatewayPort}${variant.path}`], {
    timeoutMs: (seconds + 15) * 1000,
  });
  const parsed = parseWrk(result.stdout);
  if (!result.ok || Number.isNaN(parsed.rps))
    throw new Error(`wrk failed: ${result.stderr || result.stdout}`);
  return parsed;
}

async function waitAnswering(port) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/stream`, { method: "POST", body: "x" });
      await response.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answers on ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const results = Object.fromEntries(variants.map((variant) => [variant.name, []]));
const gateway = startProcess(
  "bulwark",
  process.execPath,
  [
    "--import",
    "tsx",
    "-e",
    `import(${JSON.stringify(join(ROOT, "src/cli/main.ts"))}).then(async (m) => { process.exitCode = await m.main(["serve", "-c", ${JSON.stringify(configFile)}]); })`,
  ],
  { cwd: ROOT, stdoutFile: join(tmp, "bulwark.log"), stderrFile: join(tmp, "bulwark.err") },
);
try {
  await waitAnswering(gatewayPort);
  for (const variant of variants) {
    const warm = await wrk(variant, 1);
    if (warm.non2xx > 0) throw new Error(`${variant.name}: ${warm.non2xx} non-2xx answers in warm-up`);
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of variants) {
      const result = await wrk(variant, SECONDS);
      results[variant.name].push({ rps: result.rps, p99Ms: result.p99Ms, non2xx: result.non2xx });
      process.stderr.write(
        `round ${round} ${variant.name}: ${Math.round(result.rps)} req/s, p99 ${result.p99Ms} ms\n`,
      );
    }
  }
} finally {
  await stopProcess(gateway);
  await stopProcess(upstream);
  rmSync(tmp, { recursive: true, force: true });
}

const summary = summarizeVariants(variants, results, "stream");
console.table(summary);
writeVariantResult(ROOT, "login-body", { rounds: ROUNDS, seconds: SECONDS, summary, runs: results });
