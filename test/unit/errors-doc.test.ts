/**
 * docs/errors.md lists every error code with its status or exit code, so operators can look up
 * any code a client or a command shows them.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ErrorCodes } from "../../src/errors.js";

test("every error code is documented in docs/errors.md", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const missing = Object.keys(ErrorCodes).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, [], "add a row for each to docs/errors.md");
});
