import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CATALOG } from "../../../src/check/catalog.js";
import { SEVERITIES } from "../../../src/check/findings.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

describe("finding catalog", () => {
  it("every entry is complete", () => {
    for (const [id, entry] of CATALOG) {
      assert.match(id, /^[a-z]+(-[a-z0-9]+)+$/, id);
      assert.ok(SEVERITIES.includes(entry.severity), id);
      assert.ok(entry.title && entry.rationale && entry.remediation, id);
    }
  });

  it("every id a probe or scanner names is in the catalog", () => {
    const used = new Set<string>();
    for (const file of sources("src/check")) {
      const text = readFileSync(file, "utf8");
      for (const match of text.matchAll(/(?:finding|strength)\(\s*"([a-z0-9-]+)"/g)) used.add(match[1]!);
      for (const match of text.matchAll(/\bid: "((?:secret|disc|ops)-[a-z0-9-]+)"/g)) used.add(match[1]!);
    }
    assert.ok(used.size > 40, `only ${used.size} ids found`);
    for (const id of used) assert.ok(CATALOG.has(id), `${id} is used but not in the catalog`);
  });

  it("docs/checks.md documents every id", () => {
    const docs = readFileSync("docs/checks.md", "utf8");
    for (const id of CATALOG.keys())
      assert.ok(docs.includes(`\`${id}\``), `${id} missing from docs/checks.md`);
  });
});
