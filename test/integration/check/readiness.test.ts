/**
 * `bulwark check readiness` over real evidence: a `check url` of the Bulwark gateway (TLS,
 * redirect, rate limit), a `check repo` of the hardened fixture with advisories, and a
 * `bulwark load` run with a threshold, all written to one evidence folder by the real commands.
 * No restore drill ran, so those items stay "not verified".
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startSampleApp } from "../../../src/demo/sample-app.js";
import { type Certificate, makeCertificate } from "../../support/certs.js";
import { runCli } from "../../support/cli.js";
import { startGateway, type TestGateway } from "../../support/gateway.js";

describe("bulwark check readiness", () => {
  let dir: string;
  let cert: Certificate;
  let gateway: TestGateway;
  let app: Awaited<ReturnType<typeof startSampleApp>>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bulwark-readiness-"));
    cert = await makeCertificate({ days: 90 });
    app = await startSampleApp();
    gateway = await startGateway({
      listeners: [
        { address: "127.0.0.1:0", tls: { cert: cert.certFile, key: cert.keyFile } },
        { address: "127.0.0.1:0", redirectToHttps: {} },
        { address: "127.0.0.1:0" },
      ],
      upstreams: { app: { targets: [`http://127.0.0.1:${(app.address() as AddressInfo).port}`] } },
      routes: [
        { match: { pathPrefix: "/api" }, upstream: "app" },
        { upstream: "app", rateLimit: [{ key: "ip", limit: 40, per: "1m" }] },
      ],
    });
  });
  after(async () => {
    await gateway.stop();
    await new Promise((resolve) => app.close(resolve));
    await cert.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("folds check, load evidence into the checklist; not verified items fail only with --strict", async () => {
    const evidence = ["--evidence-dir", dir];
    const url = await runCli(
      [
        "check",
        "url",
        `https://127.0.0.1:${gateway.ports[0]}/`,
        "--ca",
        cert.certFile,
        "--http-port",
        String(gateway.ports[1]),
        "--rate",
        "50",
        "--probe-rate-limit",
        "--burst",
        "60",
        ...evidence,
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(url.code, 0, url.stderr);
    const repo = await runCli([
      "check",
      "repo",
      "test/fixtures/check/repo-containers/hardened",
      "--advisories",
      "test/fixtures/check/osv",
      ...evidence,
    ]);
    assert.equal(repo.code, 0, repo.stderr);
    const load = await runCli(
      [
        "load",
        `http://127.0.0.1:${gateway.ports[2]}/api/hello`,
        "--rate",
        "20",
        "--duration",
        "2s",
        "--threshold",
        "error_rate<1%",
        ...evidence,
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(load.code, 0, load.stderr);

    const config = join(dir, "bulwark.yaml");
    writeFileSync(
      config,
      `listeners:
  - { address: "127.0.0.1:8443", tls: { cert: ${JSON.stringify(cert.certFile)}, key: ${JSON.stringify(cert.keyFile)} } }
  - { address: "127.0.0.1:8080", redirectToHttps: {} }
upstreams:
  app: { targets: ["http://127.0.0.1:3000"] }
routes:
  - { match: { pathPrefix: /api }, upstream: app }
  - { upstream: app, rateLimit: [{ key: ip, limit: 40, per: 1m }] }
`,
    );
    const result = await runCli(["check", "readiness", "--format", "json", "-c", config, ...evidence]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      percent: number;
      grade: string;
      go: boolean;
      items: { title: string; status: string; area: string }[];
    };
    const byStatus = (status: string) =>
      report.items.filter((item) => item.status === status).map((item) => item.title);
    assert.deepEqual(byStatus("fail"), []);
    assert.deepEqual(byStatus("not verified"), [
      "restore drill succeeded",
      "RTO objective met",
      "RPO objective met",
    ]);
    assert.equal(report.go, false);
    assert.equal(report.percent, Math.round((100 * 16) / 19));
    assert.deepEqual(
      report.items
        .filter((item) => item.title.startsWith("gateway config") || item.title.startsWith("rate limits"))
        .map((item) => item.status),
      ["pass", "pass"],
    );
    assert.deepEqual(
      [...new Set(report.items.map((item) => item.area))],
      ["security", "testing", "disaster recovery", "deployment", "observability"],
    );
    const strict = await runCli(["check", "readiness", "--strict", "-c", config, ...evidence]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /readiness 84% {2}grade B {2}NO-GO/);
    writeFileSync(config, "listeners: [{ address: 0.0.0.0:8080 }]\nupstreams: {}\nroutes: []\n");
    const invalid = await runCli(["check", "readiness", "--format", "json", "-c", config, ...evidence]);
    assert.equal(invalid.code, 1, "an invalid gateway config is a failed item");
    const failed = (JSON.parse(invalid.stdout) as typeof report).items.find(
      (item) => item.status === "fail",
    )!;
    assert.equal(failed.title, "gateway config valid (every fail-closed rule passes)");
    const misuse = await runCli(["check", "readiness", "--rate", "5"]);
    assert.equal(misuse.code, 2);
  });
});
