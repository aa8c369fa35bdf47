#!/usr/bin/env node
// Runs every *.test.ts under the given folders (default: test/) with Node's test runner and tsx.
// Node 20's runner does not expand globs, so the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const roots = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const passThrough = process.argv.slice(2).filter((arg) => arg.startsWith("--"));

function collect(path, out) {
  const stat = statSync(path);
  if (stat.isFile()) {
    if (path.endsWith(".test.ts")) out.push(path);
    return out;
  }
  for (const entry of readdirSync(path).sort()) collect(join(path, entry), out);
  return out;
}

const files = (roots.length > 0 ? roots : ["test"]).flatMap((root) => collect(root, []));
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
// The usual reporter (spec on a terminal, TAP otherwise), then a list of the failures at the very
// end, where a CI log's tail shows it.
const reporters = passThrough.some((arg) => arg.startsWith("--test-reporter"))
  ? []
  : [
      `--test-reporter=${process.stdout.isTTY ? "spec" : "tap"}`,
      "--test-reporter-destination=stdout",
      `--test-reporter=${new URL("./failure-summary-reporter.mjs", import.meta.url).href}`,
      "--test-reporter-destination=stdout",
    ];
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=3",
    "--test-timeout=120000",
    ...reporters,
    ...passThrough,
    ...files,
  ],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
