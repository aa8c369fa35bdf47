/**
 * `check repo --npm-audit` against a local stand-in for the npm registry's bulk advisory endpoint
 * (the live endpoint refuses POST from the build machine: 405). The stand-in speaks the wire
 * format npm 7+ uses (npm-audit.md "Bulk Advisory Endpoint"; @npmcli/arborist audit-report.js):
 * a gzip-compressed JSON body of name → versions, answered with name → advisories. It checks
 * what the client sends, and answers well, with an error status, with garbage, or never.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { npmBulkAdvisories } from "../../../src/check/scanners/npm-advisories.js";
import { runCli } from "../../support/cli.js";

const REPO = resolve("test/fixtures/check/repo-deps");

interface Received {
  method: string;
  url: string;
  encoding: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Record<string, string[]>;
}

type Mode = "advisories" | "refuse" | "garbage" | "hang";

/** Advisories as the registry returns them (fields npm reads: id, url, title, severity, vulnerable_versions, cwe, cvss). */
const ANSWER = {
  lodash: [
    {
      id: 1106913,
      url: "https://github.com/advisories/GHSA-35jh-r3h4-6jhm",
      title: "Command Injection in lodash",
      severity: "high",
      vulnerable_versions: "<4.17.21",
      cwe: ["CWE-77", "CWE-94"],
      cvss: { score: 7.2, vectorString: "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H" },
    },
  ],
  minimist: [
    {
      id: 1096465,
      url: "https://github.com/advisories/GHSA-xvch-5gv4-984h",
      title: "Prototype Pollution in minimist",
      severity: "moderate",
      vulnerable_versions: ">=1.0.0 <1.2.6",
      cwe: ["CWE-1321"],
    },
  ],
  // The registry answers with every advisory matching any version sent; this one does not
  // match 4.19.2, and the client must test the range itself, as npm does.
  express: [
    {
      id: 1,
      url: "https://github.com/advisories/GHSA-gpvr-g6gh-9mc2",
      title: "old express issue",
      severity: "critical",
      vulnerable_versions: "<4.0.0",
      cwe: [],
    },
  ],
};

describe("check repo --npm-audit (bulk advisory endpoint stand-in)", () => {
  let server: Server;
  let registry: string;
  let mode: Mode = "advisories";
  const received: Received[] = [];
  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const raw = Buffer.concat(chunks);
        let body: Record<string, string[]> = {};
        try {
          body = JSON.parse(
            (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8"),
          ) as Record<string, string[]>;
        } catch {}
        received.push({
          method: req.method ?? "",
          url: req.url ?? "",
          encoding: req.headers["content-encoding"],
          authorization: req.headers.authorization,
          contentType: req.headers["content-type"],
          body,
        });
        if (mode === "hang") return; // never answers
        if (mode === "refuse" || req.method !== "POST") {
          res.writeHead(405, { "content-type": "text/plain" }).end("Method Not Allowed");
          return;
        }
        if (mode === "garbage") {
          res.writeHead(200, { "content-type": "application/json" }).end("<html>proxy error</html>");
          return;
        }
        const answer = Object.fromEntries(Object.entries(ANSWER).filter(([name]) => name in body));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });

  const check = (extra: string[] = []) =>
    runCli([
      "check",
      "repo",
      REPO,
      "--npm-audit",
      "--npm-registry",
      registry,
      "--format",
      "json",
      "--no-evidence",
      "--fail-on",
      "critical",
      ...extra,
    ]);

  it("sends every npm package once, gzip-compressed, and reports the versions in range", async () => {
    mode = "advisories";
    received.length = 0;
    const result = await check();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(received.length, 1, "one request for this small repository");
    const request = received[0]!;
    assert.equal(request.method, "POST");
    assert.equal(request.url, "/-/npm/v1/security/advisories/bulk");
    assert.equal(request.encoding, "gzip");
    assert.equal(request.contentType, "application/json");
    assert.deepEqual(request.body, {
      "@babel/core": ["7.24.0"],
      "@scope/safe": ["1.2.0"],
      axios: ["1.5.1"],
      express: ["4.19.2"],
      lodash: ["4.17.20"],
      minimist: ["1.2.5"],
      "node-fetch": ["2.6.1"],
    });
    const report = JSON.parse(result.stdout) as {
      findings: { id: string; severity: string; title: string; evidence: string; location: string }[];
      stats: Record<string, number>;
      warnings: string[];
    };
    const found = report.findings.map((item) => `${item.severity} ${item.title} @ ${item.location}`).sort();
    assert.deepEqual(found, [
      "high lodash@4.17.20: Command Injection in lodash @ package-lock.json:15",
      "medium minimist@1.2.5: Prototype Pollution in minimist @ package-lock.json:18",
    ]);
    assert.match(
      report.findings.find((item) => item.title.startsWith("lodash"))!.evidence,
      /GHSA-35jh-r3h4-6jhm; vulnerable <4\.17\.21 \(npm registry advisory https:\/\/github\.com\/advisories\//,
    );
    assert.equal(report.stats.npmAuditPackages, 7);
    assert.ok(!report.warnings.some((warning) => /neither --advisories/.test(warning)));
  });

  it("with the OSV database too, an advisory both sources report is listed once", async () => {
    mode = "advisories";
    const result = await check(["--advisories", resolve("test/fixtures/check/osv")]);
    const report = JSON.parse(result.stdout) as { findings: { title: string; location: string }[] };
    const lodash = report.findings.filter((item) => item.title.startsWith("lodash@"));
    assert.equal(lodash.length, 1, JSON.stringify(lodash));
    assert.equal(report.findings.filter((item) => item.title.startsWith("minimist@")).length, 1);
    assert.ok(
      report.findings.some((item) => item.title.startsWith("axios@")),
      "OSV-only advisories are kept",
    );
  });

  it("a refused request (405, as the live registry answers this machine) is a warning, not a crash", async () => {
    mode = "refuse";
    const result = await check();
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      findings: unknown[];
      warnings: string[];
      stats: Record<string, number>;
    };
    assert.deepEqual(report.findings, []);
    assert.match(
      report.warnings.join("\n"),
      /npm audit: the registry answered 405 \(Method Not Allowed\); 7 npm package\(s\) not checked/,
    );
    assert.equal(report.stats.npmAuditPackages, undefined, "nothing was verified");
    assert.ok(!/\n\s+at /.test(result.stderr));
  });

  it("an answer that is not JSON is a warning", async () => {
    mode = "garbage";
    const result = await check();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /npm audit: the registry's answer is not JSON/);
  });

  it("credentials in the registry URL are sent as Basic authorization and never printed", async () => {
    mode = "refuse";
    received.length = 0;
    const withToken = registry.replace("http://", "http://ci-bot:s3cret-t0ken@");
    const result = await npmBulkAdvisories(
      [{ ecosystem: "npm", name: "lodash", version: "4.17.20", line: 1 }],
      { registry: withToken, timeoutMs: 5000 },
    );
    assert.equal(
      received[0]!.authorization,
      `Basic ${Buffer.from("ci-bot:s3cret-t0ken").toString("base64")}`,
    );
    assert.match(result.warnings.join("\n"), /answered 405/);
    assert.ok(!result.warnings.join("\n").includes("s3cret"), result.warnings.join("\n"));
    const bad = await npmBulkAdvisories([{ ecosystem: "npm", name: "a", version: "1.0.0", line: 1 }], {
      registry: "not a url s3cret",
    });
    assert.ok(!bad.warnings.join("\n").includes("s3cret"));
    assert.match(bad.warnings.join("\n"), /registry setting is not a URL/);
  });

  it("a registry that never answers is given up after the timeout", async () => {
    mode = "hang";
    const started = Date.now();
    const result = await npmBulkAdvisories(
      [{ ecosystem: "npm", name: "lodash", version: "4.17.20", line: 1 }],
      { registry, timeoutMs: 300 },
    );
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(result.matches, []);
    assert.match(result.warnings.join("\n"), /no answer within 300 ms/);
  });

  it("readiness.repos[].npmAudit verifies the dependency item through the registry", async () => {
    mode = "advisories";
    const dir = mkdtempSync(join(tmpdir(), "bulwark-npm-audit-"));
    try {
      const config = join(dir, "bulwark.yaml");
      writeFileSync(
        config,
        `readiness:\n  repos:\n    - path: ${JSON.stringify(REPO)}\n      npmAudit: true\n      npmRegistry: ${registry}\n  writeEvidence: false\n`,
      );
      const result = await runCli(["check", "-c", config, "--format", "json"]);
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(result.stdout) as {
        items: { id: string; status: string; evidence: string }[];
      };
      const item = report.items.find((entry) => entry.id === "repo-dependencies")!;
      assert.equal(item.status, "fail");
      assert.match(item.evidence, /1 finding\(s\): dep-vulnerable/);

      mode = "refuse";
      const refused = await runCli(["check", "-c", config, "--format", "json"]);
      const again = (JSON.parse(refused.stdout) as typeof report).items.find(
        (entry) => entry.id === "repo-dependencies",
      )!;
      assert.equal(again.status, "not verified", "a refused registry verifies nothing");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
