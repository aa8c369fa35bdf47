import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  advisorySeverity,
  affects,
  compareVersions,
  cvss3BaseScore,
  loadAdvisories,
} from "../../../src/check/scanners/advisories.js";
import { LockfileError, lockfileReader } from "../../../src/check/scanners/lockfiles/lockfiles.js";

const FIXTURES = "test/fixtures/check/repo-deps";
const read = (path: string) => {
  const reader = lockfileReader(path);
  assert.ok(reader, `no reader for ${path}`);
  return reader
    .read(readFileSync(`${FIXTURES}/${path}`, "utf8"))
    .map((pkg) => `${pkg.ecosystem}:${pkg.name}@${pkg.version}:${pkg.line}`);
};

describe("lockfile readers", () => {
  it("package-lock v3 (nested and linked entries)", () => {
    assert.deepEqual(read("package-lock.json"), [
      "npm:express@4.19.2:12",
      "npm:lodash@4.17.20:15",
      "npm:minimist@1.2.5:18",
    ]);
  });
  it("yarn.lock v1 with multi-spec entries", () => {
    assert.deepEqual(read("yarn.lock"), ["npm:node-fetch@2.6.1:5", "npm:@scope/safe@1.2.0:10"]);
  });
  it("pnpm-lock v9 with peer suffixes", () => {
    assert.deepEqual(read("pnpm-lock.yaml"), ["npm:axios@1.5.1:11", "npm:@babel/core@7.24.0:13"]);
  });
  it("Cargo.lock, poetry.lock, requirements.txt, go.sum, Gemfile.lock", () => {
    assert.deepEqual(read("Cargo.lock"), ["crates.io:time@0.1.45:4", "crates.io:serde@1.0.200:9"]);
    assert.deepEqual(read("py/poetry.lock"), ["PyPI:urllib3@1.26.5:1"]);
    assert.deepEqual(read("py/requirements.txt"), ["PyPI:requests@2.28.0:2", "PyPI:django@4.2.11:4"]);
    assert.deepEqual(read("go.sum"), ["Go:golang.org/x/net@0.10.0:1", "Go:golang.org/x/text@0.14.0:3"]);
    assert.deepEqual(read("Gemfile.lock"), ["RubyGems:nokogiri@1.13.9:4", "RubyGems:racc@1.6.0:6"]);
  });
  it("malformed lockfiles throw LockfileError", () => {
    assert.throws(() => lockfileReader("package-lock.json")!.read('{"packages": {'), LockfileError);
    assert.throws(() => lockfileReader("package-lock.json")!.read("{}"), LockfileError);
    assert.throws(() => lockfileReader("pnpm-lock.yaml")!.read("packages: [unclosed"), LockfileError);
    assert.throws(() => lockfileReader("go.sum")!.read("not a go sum line\n"), LockfileError);
  });
});

describe("OSV matching", () => {
  it("compares semver and ecosystem versions", () => {
    assert.ok(compareVersions("4.17.20", "4.17.21") < 0);
    assert.ok(compareVersions("1.0.0-rc.1", "1.0.0") < 0);
    assert.ok(compareVersions("2.10", "2.9") > 0, "numeric segments");
    assert.ok(compareVersions("4.2", "4.2.10") < 0);
    assert.equal(compareVersions("v0.17.0", "0.17.0", "Go"), 0);
  });

  it("introduced/fixed, last_affected and explicit versions", () => {
    const range = (events: object[]) => ({ ranges: [{ type: "SEMVER", events }] });
    assert.equal(affects(range([{ introduced: "0" }, { fixed: "1.2.6" }]), "1.2.5", "npm").affected, true);
    assert.equal(affects(range([{ introduced: "0" }, { fixed: "1.2.6" }]), "1.2.6", "npm").affected, false);
    assert.equal(
      affects(range([{ introduced: "1.0.0" }, { fixed: "1.2.6" }]), "0.9.0", "npm").affected,
      false,
    );
    assert.equal(
      affects(range([{ introduced: "1.0.0" }, { last_affected: "1.3.0" }]), "1.3.0", "npm").affected,
      true,
    );
    assert.equal(
      affects(range([{ introduced: "1.0.0" }, { last_affected: "1.3.0" }]), "1.3.1", "npm").affected,
      false,
    );
    assert.equal(affects({ versions: ["2.0.0"] }, "2.0.0", "npm").affected, true);
    const two = {
      ranges: [
        {
          type: "SEMVER",
          events: [{ introduced: "0" }, { fixed: "0.2.4" }, { introduced: "1.0.0" }, { fixed: "1.2.6" }],
        },
      ],
    };
    assert.equal(affects(two, "0.5.0", "npm").affected, false);
    assert.equal(affects(two, "1.1.0", "npm").affected, true);
  });

  it("severity from the database, else from the CVSS v3 vector", () => {
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H"), 5.9);
    assert.equal(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), 6.1);
    assert.equal(advisorySeverity({ id: "x", database_specific: { severity: "MODERATE" } }), "medium");
    assert.equal(
      advisorySeverity({
        id: "x",
        severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" }],
      }),
      "critical",
    );
    assert.equal(advisorySeverity({ id: "x" }), "high");
  });

  it("loads a directory of OSV files (single records and arrays), skipping withdrawn ones", () => {
    const db = loadAdvisories("test/fixtures/check/osv");
    assert.equal(db.count, 11);
    const match = (ecosystem: "npm" | "PyPI", name: string, version: string) =>
      db.match({ ecosystem, name, version, line: 1 }).map((item) => item.advisory.id);
    assert.deepEqual(match("npm", "lodash", "4.17.20"), ["GHSA-35jh-r3h4-6jhm"]);
    assert.deepEqual(match("npm", "lodash", "4.17.21"), []);
    assert.deepEqual(match("npm", "express", "4.19.2"), [], "fixed version and withdrawn advisory");
    assert.deepEqual(
      match("PyPI", "Requests", "2.28.0"),
      ["GHSA-j8r2-6x86-q33q"],
      "PyPI names are normalized",
    );
  });
});
