/**
 * Rewrites the generated key reference in docs/configuration.md from the config schema and the
 * fail-closed rules: `npx tsx scripts/gen-config-docs.ts`. With --check it only reports whether
 * the file is up to date (exit 1 when it is not), for CI.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { configReferenceMarkdown, withGeneratedReference } from "../src/config/reference-docs.js";

const file = fileURLToPath(new URL("../docs/configuration.md", import.meta.url));
const current = readFileSync(file, "utf8");
const next = withGeneratedReference(current, configReferenceMarkdown());

if (process.argv.includes("--check")) {
  if (next !== current) {
    process.stderr.write("docs/configuration.md is out of date; run: npx tsx scripts/gen-config-docs.ts\n");
    process.exitCode = 1;
  }
} else if (next === current) {
  process.stderr.write("docs/configuration.md is up to date\n");
} else {
  writeFileSync(file, next);
  process.stderr.write("docs/configuration.md: generated reference rewritten\n");
}
