/**
 * The target's memory over a soak, for drift detection (src/load/trends.ts), from one of:
 *   --target-pid PID          VmRSS from /proc/PID/status (Linux; the target on this machine)
 *   --prom-metric URL#NAME    a gauge scraped from a Prometheus text endpoint, e.g.
 *                             http://127.0.0.1:9090/metrics#process_resident_memory_bytes
 *                             (Bulwark's own admin /metrics exposes that one)
 * Parsed at the edge into a probe; a failed reading returns null and is counted, never fatal.
 */
import { readFileSync } from "node:fs";
import { request } from "undici";
import { BulwarkError } from "../errors.js";
import { METRIC_NAME, sampleValue } from "./prometheus-text.js";
import type { MemoryProbe } from "./sampler.js";

const PROBE_TIMEOUT_MS = 2000;

export interface MemorySource {
  readonly description: string;
  readonly probe: MemoryProbe;
}

function usage(message: string): never {
  throw new BulwarkError("usage", `${message}; see \`bulwark load --help\``);
}

export function memorySource(input: {
  targetPid?: string | undefined;
  promMetric?: string | undefined;
}): MemorySource | undefined {
  if (input.targetPid !== undefined && input.promMetric !== undefined)
    usage("give --target-pid or --prom-metric, not both");
  if (input.targetPid !== undefined) {
    const text = input.targetPid.trim();
    if (!/^\d+$/.test(text) || Number(text) < 1)
      usage(`--target-pid: expected a process id, got ${JSON.stringify(input.targetPid)}`);
    const pid = Number(text);
    if (readRss(pid) === null)
      usage(`--target-pid: cannot read /proc/${pid}/status (no such process, or not Linux)`);
    return { description: `VmRSS of pid ${pid}`, probe: async () => readRss(pid) };
  }
  if (input.promMetric !== undefined) {
    const hash = input.promMetric.lastIndexOf("#");
    const name = hash === -1 ? "" : input.promMetric.slice(hash + 1);
    let url: URL | undefined;
    try {
      url = new URL(input.promMetric.slice(0, hash === -1 ? undefined : hash));
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !METRIC_NAME.test(name))
      usage(
        `--prom-metric: expected URL#metric_name, e.g. http://127.0.0.1:9090/metrics#process_resident_memory_bytes, got ${JSON.stringify(input.promMetric)}`,
      );
    const target = url.href;
    return { description: `${name} from ${redact(url)}`, probe: () => scrape(target, name) };
  }
  return undefined;
}

/** VmRSS in bytes, or null when the process is gone or the field is missing. */
export function readRss(pid: number): number | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  // "VmRSS:     12345 kB" — the kernel always reports kB (proc(5)).
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : null;
}

async function scrape(url: string, name: string): Promise<number | null> {
  try {
    const response = await request(url, {
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
      headers: { accept: "text/plain;version=0.0.4" },
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) return null;
    return sampleValue(text, name) ?? null;
  } catch {
    return null;
  }
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}
