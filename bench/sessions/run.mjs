#!/usr/bin/env -S node --import tsx
// What browser sessions cost per request, side by side in one run: one Bulwark process each
// (1 worker, strict profile, access log on) in front of the same upstream, for
//
//   (a) open      no authentication (the gateway core);
//   (b) memory    a session cookie checked against the memory store (HMAC + AES-GCM open);
//   (c) redis     the same against a real redis-server (plus one GET and one PTTL round trip);
//   (d) jwt       a bearer JWT (RS256) from the verified-token cache, for comparison.
//
// Each session variant signs in once through a real OpenID provider (oidc-provider), then wrk
// (closed loop, 64 connections) sends the session cookie on every request. Rounds interleave the
// variants; the table shows medians of req/s and p99 and ratios to (a). Uses dist/ (run
// `npm run build` first), /usr/bin/wrk and the Debian redis-server.
//
//   node --import tsx bench/sessions/run.mjs [--rounds 3] [--seconds 5]
//
// Writes bench/results/sessions-<timestamp>.json; docs/performance.md records the figures.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HttpBrowser, reservePort, SESSION_SECRET } from "../../test/support/browser.js";
import { BROWSER_CLIENT_ID, BROWSER_CLIENT_SECRET, startOidcProvider } from "../../test/support/oidc.js";
import { startRedis } from "../../test/support/redis.js";
import { startProcess, stopProcess } from "../gateway/processes.mjs";
import { runWrk } from "../gateway/wrk.mjs";
import { summarizeVariants, writeVariantResult } from "../variant-summary.mjs";

const { values } = parseArgs({ options: { rounds: { type: "string" }, seconds: { type: "string" } } });
const ROUNDS = Number(values.rounds ?? 3);
const SECONDS = Number(values.seconds ?? 5);
const ROOT = new URL("../../", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "bulwark-bench-sessions-"));

const variants = ["open", "memory", "redis", "jwt"].map((name) => ({
  name,
  port: 0,
  headers: [],
  handle: undefined,
}));
for (const variant of variants) variant.port = await reservePort();

const UPSTREAM_SCRIPT = `require("node:http").createServer((q, s) => { q.resume(); q.on("end", () => s.end("ok")); }).listen(${await reservePort()}, "127.0.0.1")`;
const upstreamPort = Number(/listen\((\d+)/.exec(UPSTREAM_SCRIPT)[1]);
const upstream = startProcess("upstream", process.execPath, ["-e", UPSTREAM_SCRIPT]);
const redis = await startRedis();
const idp = await startOidcProvider({
  browserClient: {
    redirectUris: variants.map((variant) => `http://127.0.0.1:${variant.port}/.bulwark/auth/callback`),
  },
});
writeFileSync(join(tmp, "session-secret"), SESSION_SECRET);
writeFileSync(join(tmp, "client-secret"), BROWSER_CLIENT_SECRET);

function config(variant) {
  const lines = [
    "version: 1",
    `listeners: [{ address: "127.0.0.1:${variant.port}" }]`,
    `admin: { address: "127.0.0.1:${0}" }`,
    "server:",
    "  workers: 1",
    "  bruteForce: { enabled: false }",
  ];
  if (variant.name === "memory" || variant.name === "redis") {
    lines.push("  sessions:", `    secret: "\${file:${join(tmp, "session-secret")}}"`);
    if (variant.name === "redis") lines.push(`    store: { type: redis, url: "${redis.url}" }`);
  }
  lines.push(
    `upstreams: { app: { targets: ["http://127.0.0.1:${upstreamPort}"] } }`,
    "logging: { level: info, accessLog: true }",
    "routes:",
    "  - name: app",
    "    upstream: app",
    "    headers: { profile: strict }",
  );
  if (variant.name === "memory" || variant.name === "redis") {
    lines.push(
      "    auth:",
      "      session:",
      `        issuer: "${idp.issuer}"`,
      `        clientId: ${BROWSER_CLIENT_ID}`,
      `        clientSecret: "\${file:${join(tmp, "client-secret")}}"`,
      `        redirectUrl: "http://127.0.0.1:${variant.port}/.bulwark/auth/callback"`,
      "      identityHeaders: { X-User: sub }",
    );
  } else if (variant.name === "jwt") {
    lines.push(
      "    auth:",
      `      jwt: { issuer: "${idp.issuer}", audience: api }`,
      "      identityHeaders: { X-User: sub }",
    );
  }
  const file = join(tmp, `${variant.name}.yaml`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

async function waitAnswering(port) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`, { redirect: "manual" });
      await response.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answers on ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const results = {};
try {
  for (const variant of variants) {
    variant.handle = startProcess(
      variant.name,
      process.execPath,
      [join(ROOT, "bin/bulwark.js"), "serve", "-c", config(variant)],
      {
        stdoutFile: join(tmp, `${variant.name}.log`),
        stderrFile: join(tmp, `${variant.name}.err`),
      },
    );
    await waitAnswering(variant.port);
    if (variant.name === "memory" || variant.name === "redis") {
      const browser = new HttpBrowser();
      const final = await browser.signIn(`http://127.0.0.1:${variant.port}/`, "alice");
      if (final.status !== 200) throw new Error(`sign-in through ${variant.name} failed: ${final.status}`);
      variant.headers = [`Cookie: ${browser.cookieHeader("127.0.0.1")}`];
    } else if (variant.name === "jwt") {
      variant.headers = [
        `Authorization: Bearer ${await idp.sign({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 86_400 })}`,
      ];
    }
    // Warm-up, and a check that the credential works (bearer keys load in the background).
    let warm = { non2xx: 1 };
    for (let attempt = 0; attempt < 10 && warm.non2xx > 0; attempt++) {
      warm = await runWrk("/usr/bin/wrk", variant.port, { seconds: 1, headers: variant.headers });
    }
    if (warm.non2xx > 0) throw new Error(`${variant.name}: ${warm.non2xx} non-2xx answers in warm-up`);
    results[variant.name] = [];
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of variants) {
      const run = await runWrk("/usr/bin/wrk", variant.port, { seconds: SECONDS, headers: variant.headers });
      results[variant.name].push({ rps: run.rps, p99Ms: run.p99Ms, non2xx: run.non2xx });
      process.stderr.write(
        `round ${round} ${variant.name}: ${Math.round(run.rps)} req/s, p99 ${run.p99Ms} ms\n`,
      );
    }
  }
} finally {
  for (const variant of variants) if (variant.handle) await stopProcess(variant.handle);
  await stopProcess(upstream);
  await idp.close();
  await redis.close();
  rmSync(tmp, { recursive: true, force: true });
}

const summary = summarizeVariants(variants, results, "open");
console.table(summary);
writeVariantResult(ROOT, "sessions", { rounds: ROUNDS, seconds: SECONDS, summary, runs: results });
