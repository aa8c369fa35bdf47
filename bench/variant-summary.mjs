// What the variant benchmarks (bench/sessions, bench/login-body) share: wrk rounds per variant
// summarised as medians and ratios to a baseline variant, and the result file they write.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";

export function median(list) {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One row per variant: median req/s, its ratio to `baseline`'s, median p99 and non-2xx answers. */
export function summarizeVariants(variants, results, baseline) {
  const base = median(results[baseline].map((r) => r.rps));
  return variants.map((variant) => {
    const runs = results[variant.name];
    const rps = median(runs.map((r) => r.rps));
    return {
      variant: variant.name,
      medianRps: Math.round(rps),
      ratio: Math.round((rps / base) * 100) / 100,
      medianP99Ms: median(runs.map((r) => r.p99Ms)),
      non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    };
  });
}

/** Writes bench/results/NAME-<timestamp>.json and says where. */
export function writeVariantResult(root, name, { rounds, seconds, summary, runs }) {
  const outDir = join(root, "bench/results");
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date()
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z");
  const out = join(outDir, `${name}-${stamp}.json`);
  const report = {
    kind: `bench-${name}`,
    version: 1,
    rounds,
    seconds,
    cpus: cpus().length,
    node: process.version,
    summary,
    runs,
  };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${out}`);
}
