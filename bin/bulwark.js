#!/usr/bin/env node
// Entry point of the `bulwark` command: loads the compiled CLI from dist/ (built by `npm run build`,
// which `npm ci` runs through the prepare script).
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("bulwark: dist/ is missing; run `npm run build` in the bulwark package first\n");
  process.exit(3);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
