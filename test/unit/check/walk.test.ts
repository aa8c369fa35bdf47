import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SKIP_MARKER, walkRepository } from "../../../src/check/scanners/walk.js";

describe("repository walk", () => {
  const root = mkdtempSync(join(tmpdir(), "bulwark-walk-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const paths = ["a.js", "src/b.ts", "node_modules/x/index.js", ".git/config", "fixtures/repo/Dockerfile"];
  for (const path of [...paths, `fixtures/repo/${SKIP_MARKER}`]) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), "x");
  }
  symlinkSync("src", join(root, "link-to-src"));
  symlinkSync("self", join(root, "self"));

  it("skips dependency and VCS folders, marked fixture folders and symlinks; reports loops", () => {
    const result = walkRepository(root);
    assert.deepEqual(
      result.files.map((file) => file.path),
      ["a.js", "src/b.ts"],
    );
    assert.equal(result.symlinks, 2);
    assert.deepEqual(result.warnings, ["symlink loop at self; not followed"]);
  });

  it("a marked folder is scanned when it is the root itself", () => {
    const result = walkRepository(join(root, "fixtures/repo"));
    assert.deepEqual(
      result.files.map((file) => file.path),
      [SKIP_MARKER, "Dockerfile"],
    );
  });
});

describe("repository scan interruption", () => {
  it("an aborted scan stops and is marked partial", async () => {
    const { scanRepository } = await import("../../../src/check/scanners/repo-scan.js");
    const controller = new AbortController();
    controller.abort();
    const result = await scanRepository({
      root: "test/fixtures/check/repo-deps",
      signal: controller.signal,
      history: true,
    });
    assert.equal(result.partial, true);
    assert.match(result.warnings.join("\n"), /interrupted after 0 of \d+ files/);
    assert.deepEqual(result.findings, []);
  });
});
