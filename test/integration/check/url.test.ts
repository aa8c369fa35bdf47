/**
 * `bulwark check url` against real servers on loopback: nginx with bad settings (plain and TLS),
 * a careless Node app, the Bulwark gateway in front of the demo app (which must earn the top
 * grade), and broken targets (closed port, redirect loop, endless body, TLS to a plain port).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { REQUEST_BUDGET } from "../../../src/check/probes/url-scan.js";
import { startSampleApp } from "../../../src/demo/sample-app.js";
import { type Certificate, makeCertificate } from "../../support/certs.js";
import { finished, runCli, spawnCli } from "../../support/cli.js";
import { startGateway } from "../../support/gateway.js";
import { startNginx } from "../../support/nginx.js";
import { startLeakyApp } from "./leaky-app.js";

interface JsonReport {
  score: number;
  grade: string;
  findings: { id: string; severity: string; location: string; evidence: string }[];
  strengths: { id: string }[];
  warnings: string[];
  stats: Record<string, number>;
}

async function checkUrl(url: string, extra: string[] = []) {
  const result = await runCli(
    ["check", "url", url, "--rate", "50", "--timeout", "5s", "--format", "json", "--no-evidence", ...extra],
    {
      timeoutMs: 90_000,
    },
  );
  assert.ok(result.stdout.length > 0, `no JSON (exit ${result.code}): ${result.stderr}`);
  return { ...result, report: JSON.parse(result.stdout) as JsonReport };
}

const ids = (report: JsonReport) => [...new Set(report.findings.map((item) => item.id))].sort();
const HEADER_BASICS = [
  "hdr-coep-missing",
  "hdr-coop-missing",
  "hdr-corp-missing",
  "hdr-csp-missing",
  "hdr-frame-missing",
  "hdr-permissions-missing",
  "hdr-referrer-missing",
  "hdr-xcto-missing",
];

function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

describe("bulwark check url", () => {
  let cert: Certificate;
  before(async () => {
    cert = await makeCertificate({ days: 90 });
  });
  after(() => cert.cleanup());

  it("nginx with bad settings: banners, listing, exposed files, status page, CORS *, weak cookie", async () => {
    const nginx = await startNginx({
      server: `server_tokens on;
        autoindex on;
        add_header Access-Control-Allow-Origin *;
        add_header Set-Cookie "sessionid=abc123; Path=/";
        location = /server-status { stub_status; }`,
      files: {
        ".env": "DB_PASSWORD=fixture-not-real\nDEBUG=1\n",
        ".git/config": "[core]\n\trepositoryformatversion = 0\n",
        "backup.zip": Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(64)]),
        "static/app.js": "console.log(1)\n",
      },
    });
    try {
      const { code, report } = await checkUrl(`${nginx.url}/`);
      assert.equal(code, 1);
      assert.deepEqual(
        ids(report),
        [
          ...HEADER_BASICS,
          "cookie-no-host-prefix",
          "cookie-no-httponly",
          "cookie-no-samesite",
          "cookie-no-secure",
          "cors-wildcard",
          "disc-backup-file",
          "disc-directory-listing",
          "disc-env-file",
          "disc-git-exposed",
          "disc-server-status",
          "disc-server-version",
          "ops-health-missing",
          "tls-not-used",
        ].sort(),
      );
      const listings = report.findings
        .filter((item) => item.id === "disc-directory-listing")
        .map((item) => new URL(item.location).pathname);
      assert.deepEqual(listings.sort(), ["/", "/static/"]);
      assert.match(report.findings.find((item) => item.id === "disc-server-version")!.evidence, /nginx\/\d/);
      assert.ok(
        !JSON.stringify(report).includes("fixture-not-real"),
        ".env values are not copied into the report",
      );
      assert.equal(report.grade, "F");
      assert.ok(report.stats.requests! <= REQUEST_BUDGET);
    } finally {
      await nginx.close();
    }
  });

  it("nginx TLS with legacy protocols, weak and non-FS suites, a wrong-host, untrusted, expiring certificate", async () => {
    const bad = await makeCertificate({
      altNames: ["DNS:other.example"],
      commonName: "other.example",
      days: 10,
    });
    const nginx = await startNginx({
      tls: bad,
      server: `ssl_protocols TLSv1 TLSv1.1 TLSv1.2; ssl_ciphers ALL:@SECLEVEL=0;
        location / { return 200 "hello"; }`,
    });
    try {
      const { report } = await checkUrl(`${nginx.url}/`);
      const transport = ids(report).filter((id) => id.startsWith("tls-") || id.startsWith("hdr-hsts"));
      assert.deepEqual(transport, [
        "hdr-hsts-missing",
        "tls-cert-expiring",
        "tls-cert-hostname",
        "tls-cert-untrusted",
        "tls-legacy-protocol",
        "tls-no-forward-secrecy",
        "tls-no-tls13",
        "tls-weak-cipher",
      ]);
      assert.match(
        report.findings.find((item) => item.id === "tls-no-tls13")!.evidence,
        /negotiated TLSv1\.2/,
      );
      assert.match(
        report.findings.find((item) => item.id === "tls-legacy-protocol")!.evidence,
        /TLSv1 .*TLSv1\.1/,
      );
      assert.match(report.warnings.join("\n"), /HTTP→HTTPS redirect not checked/);
      assert.equal(report.stats.tlsHandshakes, 5);
    } finally {
      await nginx.close();
      await bad.cleanup();
    }
    const expired = await makeCertificate({
      notBefore: new Date(Date.now() - 40 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const old = await startNginx({ tls: expired, server: `location / { return 200 "hi"; }` });
    try {
      const { report } = await checkUrl(`${old.url}/`, ["--ca", expired.certFile]);
      assert.ok(ids(report).includes("tls-cert-expired"));
      assert.ok(
        !ids(report).includes("tls-cert-untrusted"),
        "trusted through --ca; only the dates are wrong",
      );
    } finally {
      await old.close();
      await expired.cleanup();
    }
  });

  it("a careless Node app: reflected CORS with credentials, stack traces, XSS, SQL errors, open redirect", async () => {
    const app = await startLeakyApp();
    try {
      const { code, report } = await checkUrl(`${app.url}/`, ["--probe-rate-limit", "--burst", "20"]);
      assert.equal(code, 1);
      assert.deepEqual(
        ids(report),
        [
          ...HEADER_BASICS,
          "app-db-error",
          "app-open-redirect",
          "app-reflected-input",
          "cookie-no-host-prefix",
          "cookie-no-httponly",
          "cookie-no-samesite",
          "cookie-no-secure",
          "cors-null-origin",
          "cors-reflect-credentials",
          "disc-actuator",
          "disc-powered-by",
          "disc-server-version",
          "disc-stack-trace",
          "disc-trace-enabled",
          "ops-metrics-public",
          "ops-no-rate-limit",
          "tls-not-used",
        ].sort(),
      );
      const traces = report.findings.filter((item) => item.id === "disc-stack-trace");
      assert.equal(traces.length, 2, "the bad-encoding GET and the bad-JSON POST");
      assert.equal(
        new URL(report.findings.find((item) => item.id === "app-open-redirect")!.location).pathname,
        "/login",
      );
      assert.equal(report.stats.requests, app.requests, "every request is counted");
      assert.ok(app.requests <= REQUEST_BUDGET + 20, `${app.requests} requests`);
    } finally {
      await app.close();
    }
  });

  it("the Bulwark gateway in front of the demo app: nothing above low, top grade", async () => {
    const app = await startSampleApp();
    const appPort = (app.address() as AddressInfo).port;
    const gateway = await startGateway({
      listeners: [
        { address: "127.0.0.1:0", tls: { cert: cert.certFile, key: cert.keyFile } },
        { address: "127.0.0.1:0", redirectToHttps: {} },
      ],
      upstreams: { app: { targets: [`http://127.0.0.1:${appPort}`] } },
      routes: [{ upstream: "app" }],
    });
    try {
      const { code, report } = await checkUrl(`https://127.0.0.1:${gateway.ports[0]}/`, [
        "--ca",
        cert.certFile,
        "--http-port",
        String(gateway.ports[1]),
      ]);
      const aboveLow = report.findings.filter((item) => !["low", "info"].includes(item.severity));
      assert.deepEqual(aboveLow, []);
      assert.ok(!ids(report).includes("tls-no-tls13"), "the gateway negotiates TLS 1.3");
      assert.equal(report.grade, "A+");
      assert.equal(report.score, 100);
      assert.equal(code, 0);
      assert.ok(report.strengths.some((item) => item.id === "bonus-csp-strict"));
      // and the same app without the gateway fails
      const direct = await checkUrl(`http://127.0.0.1:${appPort}/`);
      assert.notEqual(direct.report.grade, "A+");
      assert.ok(ids(direct.report).includes("disc-powered-by"));
    } finally {
      await gateway.stop();
      await new Promise((resolve) => app.close(resolve));
    }
  });

  it("--probe-rate-limit sees the gateway's 429", async () => {
    const app = await startSampleApp();
    const appPort = (app.address() as AddressInfo).port;
    const gateway = await startGateway({
      upstreams: { app: { targets: [`http://127.0.0.1:${appPort}`] } },
      routes: [{ upstream: "app", rateLimit: [{ key: "ip", limit: 40, per: "1m" }] }],
    });
    try {
      const { report } = await checkUrl(`${gateway.url}/`, ["--probe-rate-limit", "--burst", "60"]);
      assert.ok(
        report.strengths.some((item) => item.id === "bonus-rate-limited"),
        JSON.stringify(report.strengths),
      );
      assert.ok(!ids(report).includes("ops-no-rate-limit"), JSON.stringify(ids(report)));
      assert.ok(report.stats.requests! < REQUEST_BUDGET + 60, "the burst stops at the first 429");
    } finally {
      await gateway.stop();
      await new Promise((resolve) => app.close(resolve));
    }
  });

  it("Ctrl-C stops the probes and still reports what was seen, marked partial (exit 130)", async () => {
    let seen = 0;
    const slow = await listen((_req, res) => {
      seen += 1;
      res.setHeader("content-type", "text/html");
      res.end("<html>ok</html>");
    });
    try {
      const child = spawnCli([
        "check",
        "url",
        `${slow.url}/`,
        "--rate",
        "1",
        "--format",
        "json",
        "--no-evidence",
      ]);
      const deadline = Date.now() + 20_000;
      while (seen < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      child.kill("SIGINT");
      const result = await finished(child, 20_000);
      assert.equal(result.code, 130, result.stderr);
      const report = JSON.parse(result.stdout) as JsonReport & { partial: boolean };
      assert.equal(report.partial, true);
      assert.match(report.warnings.join("\n"), /interrupted; the remaining probes were not sent/);
      assert.ok(ids(report).includes("hdr-csp-missing"), "findings from the main page are kept");
      assert.ok(seen < 10, `${seen} requests after the interrupt`);
    } finally {
      await new Promise((resolve) => slow.server.close(resolve));
    }
  });

  it("broken targets become findings, never crashes or hangs", async () => {
    const closed = await listen(() => undefined);
    const closedUrl = closed.url;
    await new Promise((resolve) => closed.server.close(resolve));
    const down = await checkUrl(`${closedUrl}/`);
    assert.equal(down.code, 1);
    assert.deepEqual(ids(down.report), ["target-unreachable"]);
    assert.equal(down.report.stats.requests, 1);

    const loop = await listen((req, res) => {
      res.statusCode = 302;
      res.setHeader("location", req.url === "/a" ? "/b" : "/a");
      res.end();
    });
    const endless = await listen((_req, res) => {
      res.setHeader("content-type", "text/html");
      const timer = setInterval(() => res.write(Buffer.alloc(64 * 1024, 120)), 1);
      res.on("close", () => clearInterval(timer));
    });
    try {
      const looped = await checkUrl(`${loop.url}/`);
      assert.ok(ids(looped.report).includes("check-redirect-loop"));
      const flood = await checkUrl(`${endless.url}/`);
      assert.notEqual(flood.code, 3, flood.stderr);
      assert.ok(flood.report.stats.requests! <= REQUEST_BUDGET);
      const tlsToPlain = await checkUrl(`${loop.url.replace("http:", "https:")}/`);
      assert.deepEqual(ids(tlsToPlain.report), ["tls-handshake-failed"]);
    } finally {
      for (const server of [loop.server, endless.server]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });
});
