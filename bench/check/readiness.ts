/**
 * `bulwark check` with a readiness section against the same work done by hand, run with tsx:
 *
 *   npm run build && node --import tsx bench/check/readiness.ts [--rounds 5]
 *
 * Peers, side by side in each round (order alternating): (a) one `bulwark check -c FILE` whose
 * readiness section configures one URL (a local HTTP app, --rate 50) and one repository (the
 * dependency fixture with the OSV fixture); (b) `bulwark check url`, `bulwark check repo` and
 * `bulwark check readiness --no-run` run one after the other with the same options. Both do the
 * same requests and scan the same files; the difference is process starts and evidence reading.
 * Prints medians and the ratio, and writes bench/results/check-readiness-<timestamp>.json.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { BIN } from "../../test/support/cli.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const ROUNDS = Number(values.rounds);
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const REPO = resolve("test/fixtures/check/repo-deps");
const OSV = resolve("test/fixtures/check/osv");

// Asynchronous: the target app runs in this process and must keep serving.
function bulwark(args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: "ignore" });
    child.once("error", fail);
    child.once("close", (status) => {
      if (status !== 0 && status !== 1) fail(new Error(`bulwark ${args.join(" ")} exited ${status}`));
      else done(Number(process.hrtime.bigint() - start) / 1e6);
    });
  });
}

const app = createServer((_req, res) => {
  res.setHeader("content-type", "text/html");
  res.end("<html><body>hello</body></html>");
});
await new Promise<void>((done) => app.listen(0, "127.0.0.1", done));
const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}/`;
const dir = mkdtempSync(join(tmpdir(), "bulwark-bench-readiness-"));
const config = join(dir, "bulwark.yaml");
writeFileSync(
  config,
  `readiness:\n  urls:\n    - url: ${url}\n      rate: 50\n  repos:\n    - path: ${JSON.stringify(REPO)}\n      advisories: ${JSON.stringify(OSV)}\n  evidenceDir: evidence-a\n`,
);

const configured = () => bulwark(["check", "-c", config, "--format", "json"]);
const byHand = async () => {
  const evidence = ["--evidence-dir", join(dir, "evidence-b")];
  let ms = await bulwark(["check", "url", url, "--rate", "50", "--format", "json", ...evidence]);
  ms += await bulwark(["check", "repo", REPO, "--advisories", OSV, "--format", "json", ...evidence]);
  ms += await bulwark(["check", "readiness", "--no-run", "--format", "json", ...evidence]);
  return ms;
};

const results = { configured: [] as number[], byHand: [] as number[] };
try {
  await configured(); // warm-up: file cache, lazy imports
  for (let round = 0; round < ROUNDS; round += 1) {
    if (round % 2 === 0) {
      results.configured.push(await configured());
      results.byHand.push(await byHand());
    } else {
      results.byHand.push(await byHand());
      results.configured.push(await configured());
    }
  }
} finally {
  app.close();
  rmSync(dir, { recursive: true, force: true });
}

const a = median(results.configured);
const b = median(results.byHand);
process.stdout.write(
  `bulwark check with a readiness section vs the same checks by hand (${ROUNDS} rounds, medians)\n` +
    `  bulwark check -c FILE (1 url + 1 repo)           ${a.toFixed(0)} ms\n` +
    `  check url + check repo + check readiness --no-run ${b.toFixed(0)} ms\n` +
    `  ratio configured / by hand                        ${(a / b).toFixed(2)}\n`,
);
mkdirSync("bench/results", { recursive: true });
writeFileSync(
  join("bench/results", `check-readiness-${new Date().toISOString().replace(/[:.]/g, "-")}.json`),
  `${JSON.stringify({ rounds: ROUNDS, url, repo: REPO, samplesMs: results, medianMs: { configured: a, byHand: b } }, null, 2)}\n`,
);
