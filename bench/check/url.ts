/**
 * `check url` benchmark and comparison with testssl.sh (Debian's `testssl`), run with tsx:
 *
 *   npm run build && node --import tsx bench/check/url.ts [--rounds 3]
 *
 * 1. Duration of `bulwark check url` against local targets: the demo app behind the Bulwark
 *    gateway over TLS (default rate 10 req/s, and --rate 50), and a badly configured TLS nginx.
 * 2. The same TLS nginx endpoint through `testssl -p -s -f -S` (protocols, cipher categories,
 *    forward secrecy, certificate), side by side: durations, and each TLS verdict from both
 *    tools with whether they agree. Writes bench/results/check-url-<timestamp>.json.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startSampleApp } from "../../src/demo/sample-app.js";
import { makeCertificate } from "../../test/support/certs.js";
import { BIN } from "../../test/support/cli.js";
import { startGateway } from "../../test/support/gateway.js";
import { startNginx } from "../../test/support/nginx.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const ROUNDS = Number(values.rounds);
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;

// Asynchronous on purpose: the gateway under test runs in this process and must keep serving.
function timed(
  command: string,
  args: string[],
): Promise<{ ms: number; status: number | null; stdout: string }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (status) =>
      resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, status, stdout }),
    );
  });
}

async function bulwarkCheck(url: string, extra: string[]) {
  const run = await timed(process.execPath, [
    BIN,
    "check",
    "url",
    url,
    "--format",
    "json",
    "--no-evidence",
    "--fail-on",
    "none",
    ...extra,
  ]);
  if (run.status !== 0) throw new Error(`bulwark check url exited ${run.status}`);
  return {
    ms: run.ms,
    report: JSON.parse(run.stdout) as {
      grade: string;
      score: number;
      stats: Record<string, number>;
      findings: { id: string; evidence: string }[];
    },
  };
}

const cert = await makeCertificate({ days: 90 });
const bad = await makeCertificate({ altNames: ["DNS:other.example"], commonName: "other.example", days: 10 });
const app = await startSampleApp();
const gateway = await startGateway({
  listeners: [
    { address: "127.0.0.1:0", tls: { cert: cert.certFile, key: cert.keyFile } },
    { address: "127.0.0.1:0", redirectToHttps: {} },
  ],
  upstreams: { app: { targets: [`http://127.0.0.1:${(app.address() as AddressInfo).port}`] } },
  routes: [{ upstream: "app" }],
});
const nginx = await startNginx({
  tls: bad,
  server: `ssl_protocols TLSv1 TLSv1.1 TLSv1.2; ssl_ciphers ALL:@SECLEVEL=0; location / { return 200 "hello"; }`,
});
const work = mkdtempSync(join(tmpdir(), "bulwark-bench-url-"));
try {
  const gatewayUrl = `https://127.0.0.1:${gateway.ports[0]}/`;
  const rows: { target: string; runs: number[]; requests: number; grade: string }[] = [];
  for (const [name, url, extra] of [
    [
      "gateway (TLS), default rate 10/s",
      gatewayUrl,
      ["--ca", cert.certFile, "--http-port", String(gateway.ports[1])],
    ],
    [
      "gateway (TLS), --rate 50",
      gatewayUrl,
      ["--ca", cert.certFile, "--http-port", String(gateway.ports[1]), "--rate", "50"],
    ],
    ["nginx (bad TLS), default rate", `${nginx.url}/`, []],
  ] as const) {
    const runs: number[] = [];
    let last: Awaited<ReturnType<typeof bulwarkCheck>> | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      last = await bulwarkCheck(url, [...extra]);
      runs.push(Math.round(last.ms));
    }
    rows.push({ target: name, runs, requests: last!.report.stats.requests ?? 0, grade: last!.report.grade });
  }

  // testssl.sh and bulwark on the same TLS endpoint.
  const testsslRuns: number[] = [];
  let testssl: { id: string; severity: string; finding: string }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const file = join(work, `testssl-${round}.json`);
    const run = await timed("testssl", [
      "-p",
      "-s",
      "-f",
      "-S",
      "--quiet",
      "--color",
      "0",
      "--warnings",
      "off",
      "--jsonfile",
      file,
      `127.0.0.1:${nginx.port}`,
    ]);
    testsslRuns.push(Math.round(run.ms));
    testssl = JSON.parse(readFileSync(file, "utf8"));
  }
  const tsFinding = (id: string) => testssl.find((entry) => entry.id === id)?.finding ?? "(absent)";
  const ours = (await bulwarkCheck(`${nginx.url}/`, [])).report;
  const evidence = (id: string) => ours.findings.find((item) => item.id === id)?.evidence ?? "not reported";
  const weak = [
    "cipherlist_NULL",
    "cipherlist_aNULL",
    "cipherlist_EXPORT",
    "cipherlist_LOW",
    "cipherlist_3DES_IDEA",
  ]
    .map((id) => `${id.replace("cipherlist_", "")}: ${tsFinding(id)}`)
    .join("; ");
  const compare = [
    {
      verdict: "TLS 1.0 / 1.1 offered",
      bulwark: evidence("tls-legacy-protocol"),
      testssl: `TLS1: ${tsFinding("TLS1")}; TLS1_1: ${tsFinding("TLS1_1")}`,
    },
    { verdict: "weak suites", bulwark: evidence("tls-weak-cipher"), testssl: weak },
    {
      verdict: "suites without forward secrecy",
      bulwark: evidence("tls-no-forward-secrecy"),
      testssl: `PFS: ${tsFinding("PFS")}; AVERAGE (non-FS AES incl.): ${tsFinding("cipherlist_AVERAGE")}`,
    },
    { verdict: "TLS 1.3", bulwark: "not assessed", testssl: tsFinding("TLS1_3") },
    {
      verdict: "certificate expiry",
      bulwark: evidence("tls-cert-expiring"),
      testssl: tsFinding("cert_expirationStatus"),
    },
    {
      verdict: "chain of trust",
      bulwark: evidence("tls-cert-untrusted"),
      testssl: tsFinding("cert_chain_of_trust"),
    },
    { verdict: "host name", bulwark: evidence("tls-cert-hostname"), testssl: tsFinding("cert_trust") },
    { verdict: "key size", bulwark: evidence("tls-weak-key"), testssl: tsFinding("cert_keySize") },
  ];
  console.log("| target | median | runs (ms) | requests | grade |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const row of rows)
    console.log(
      `| bulwark check url: ${row.target} | ${(median(row.runs) / 1000).toFixed(2)} s | ${row.runs.join(", ")} | ${row.requests} | ${row.grade} |`,
    );
  console.log(
    `| testssl -p -s -f -S: nginx (bad TLS) | ${(median(testsslRuns) / 1000).toFixed(2)} s | ${testsslRuns.join(", ")} | — | — |`,
  );
  console.log("");
  console.log("| verdict on the nginx endpoint | bulwark | testssl.sh |");
  console.log("| --- | --- | --- |");
  for (const row of compare) console.log(`| ${row.verdict} | ${row.bulwark} | ${row.testssl} |`);
  const out = join("bench/results", `check-url-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(out, `${JSON.stringify({ rounds: ROUNDS, rows, testsslRuns, compare }, null, 2)}\n`);
  console.log(`wrote ${out}`);
} finally {
  rmSync(work, { recursive: true, force: true });
  await nginx.close();
  await gateway.stop();
  await new Promise((resolve) => app.close(resolve));
  await cert.cleanup();
  await bad.cleanup();
}
