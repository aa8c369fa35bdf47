/**
 * `bulwark load` against a real HTTPS target whose certificate is self-signed (made by openssl at
 * test time): refused as `tls` errors by default; trusted with --ca or a scenario's `tls.ca`
 * (also in worker threads); not verified with --insecure, which warns and marks the summary; a
 * certificate from another CA is still refused. Bad CA files and flag combinations are usage
 * errors that say what to fix.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/exit-codes.js";
import { type Certificate, makeCertificate } from "../../support/certs.js";
import { runCli } from "../../support/cli.js";

let dir: string;
let cert: Certificate;
let otherCa: Certificate;
let server: Server;
let url: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "bulwark-load-https-"));
  cert = await makeCertificate();
  otherCa = await makeCertificate({ commonName: "another CA" });
  server = createServer({ cert: cert.certPem, key: cert.keyPem }, (request, response) => {
    request.resume();
    response.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await cert?.cleanup();
  await otherCa?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  errors: number;
  statusCodes: Record<string, number>;
  errorsByClass: Record<string, number>;
  target: { url: string; insecure?: boolean };
}

let runs = 0;
/** A short closed-model run through main(); returns the exit code and the JSON summary. */
async function load(target: string, extra: readonly string[]): Promise<{ code: number; summary: Summary }> {
  const out = join(dir, `run-${++runs}.json`);
  const code = await main([
    "load",
    target,
    "--vus",
    "2",
    "--duration",
    "400ms",
    "--out",
    out,
    "--no-evidence",
    ...extra,
  ]);
  return { code, summary: JSON.parse(readFileSync(out, "utf8")) as Summary };
}

test("a self-signed target fails as tls errors by default, and is loaded with --ca", async () => {
  const refused = await load(url, []);
  assert.equal(refused.code, ExitCode.Ok);
  assert.ok(refused.summary.errorsByClass.tls! > 0, JSON.stringify(refused.summary.errorsByClass));
  assert.equal(refused.summary.statusCodes["200"], undefined);

  const trusted = await load(url, ["--ca", cert.certFile]);
  assert.equal(trusted.code, ExitCode.Ok);
  assert.ok(trusted.summary.statusCodes["200"]! > 0);
  assert.equal(trusted.summary.errors, 0);
  assert.equal(trusted.summary.target.insecure, undefined);
});

test("--ca with another CA's certificate still refuses the target", async () => {
  const wrong = await load(url, ["--ca", otherCa.certFile]);
  assert.ok(wrong.summary.errorsByClass.tls! > 0);
  assert.equal(wrong.summary.statusCodes["200"], undefined);
});

test("--insecure loads the target without verifying it, says so, and marks the summary", async () => {
  const out = join(dir, "insecure.json");
  const result = await runCli(
    ["load", url, "--vus", "2", "--duration", "400ms", "--insecure", "--out", out, "--no-evidence"],
    { timeoutMs: 30_000 },
  );
  assert.equal(result.code, ExitCode.Ok, result.stderr);
  assert.match(result.stderr, /warning: the target's TLS certificate is not verified \(insecure\)/);
  const summary = JSON.parse(readFileSync(out, "utf8")) as Summary;
  assert.ok(summary.statusCodes["200"]! > 0);
  assert.equal(summary.errors, 0);
  assert.equal(summary.target.insecure, true);
});

test("a scenario's tls.ca, relative to the scenario file, is trusted in every worker thread", async () => {
  const scenarioDir = mkdtempSync(join(dir, "scenario-"));
  copyFileSync(cert.certFile, join(scenarioDir, "ca.pem"));
  const file = join(scenarioDir, "https.yaml");
  writeFileSync(file, `target: ${url}\nrequests:\n  - { name: home, path: / }\ntls:\n  ca: ./ca.pem\n`);
  const { code, summary } = await load(file, ["--workers", "2"]);
  assert.equal(code, ExitCode.Ok);
  assert.ok(summary.statusCodes["200"]! > 0, JSON.stringify(summary));
  assert.equal(summary.errors, 0);
});

test("bad CA files and flag combinations are usage errors naming what to fix", async () => {
  const notPem = join(dir, "not-a-cert.pem");
  writeFileSync(notPem, "hello\n");
  const broken = join(dir, "broken.pem");
  writeFileSync(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  const cases: [readonly string[], RegExp][] = [
    [[url, "--ca", join(dir, "missing.pem")], /--ca: cannot read the CA file .*missing\.pem \(ENOENT\)/],
    [[url, "--ca", notPem], /--ca: the CA file .*not-a-cert\.pem holds no PEM certificate/],
    [
      [url, "--ca", broken],
      /--ca: certificate 1 in the CA file .*broken\.pem is not a valid PEM certificate/,
    ],
    [[url, "--ca", cert.certFile, "--insecure"], /give --insecure or --ca, not both/],
    [
      ["http://127.0.0.1:9/", "--insecure"],
      /--insecure applies to https:\/\/ targets; http:\/\/127\.0\.0\.1:9 is plain HTTP/,
    ],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(["load", ...args, "--vus", "1", "--duration", "1s", "--no-evidence"], {
      timeoutMs: 30_000,
    });
    assert.equal(result.code, ExitCode.UsageOrConfig, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }

  const scenario = join(dir, "bad-tls.yaml");
  writeFileSync(scenario, `target: ${url}\nrequests:\n  - { name: home, path: / }\ntls:\n  ca: ./nope.pem\n`);
  const bad = await runCli(["load", scenario, "--vus", "1", "--duration", "1s", "--no-evidence"], {
    timeoutMs: 30_000,
  });
  assert.equal(bad.code, ExitCode.UsageOrConfig, bad.stderr);
  assert.match(bad.stderr, /bad-tls\.yaml:5:\d+.*tls\.ca.*cannot read the CA file .*nope\.pem \(ENOENT\)/s);
});

test("--http2 (scenario http2: true) loads an HTTP/2-only target; without it the handshake is refused", async () => {
  const versions = new Set<string>();
  const h2: Http2SecureServer = createSecureServer(
    { cert: cert.certPem, key: cert.keyPem, allowHTTP1: false },
    (request, response) => {
      versions.add(request.httpVersion);
      response.end("ok");
    },
  );
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const h2Url = `https://127.0.0.1:${(h2.address() as AddressInfo).port}/`;
  try {
    const refused = await load(h2Url, ["--ca", cert.certFile]);
    assert.ok(refused.summary.errorsByClass.tls! > 0, JSON.stringify(refused.summary.errorsByClass));
    assert.equal(refused.summary.statusCodes["200"], undefined);

    const offered = await load(h2Url, ["--ca", cert.certFile, "--http2"]);
    assert.ok(offered.summary.statusCodes["200"]! > 0);
    assert.equal(offered.summary.errors, 0);
    assert.deepEqual([...versions], ["2.0"]);

    const scenarioDir = mkdtempSync(join(dir, "h2-"));
    copyFileSync(cert.certFile, join(scenarioDir, "ca.pem"));
    const file = join(scenarioDir, "h2.yaml");
    writeFileSync(
      file,
      `target: ${h2Url}\nrequests:\n  - { name: home, path: / }\nhttp2: true\ntls: { ca: ./ca.pem }\n`,
    );
    const scenario = await load(file, []);
    assert.ok(scenario.summary.statusCodes["200"]! > 0, JSON.stringify(scenario.summary));
    assert.equal(scenario.summary.errors, 0);

    const plain = await runCli(
      ["load", "http://127.0.0.1:9/", "--http2", "--vus", "1", "--duration", "1s", "--no-evidence"],
      {
        timeoutMs: 30_000,
      },
    );
    assert.equal(plain.code, ExitCode.UsageOrConfig);
    assert.match(plain.stderr, /--http2 needs an https:\/\/ target/);
  } finally {
    h2.close();
  }
});
