// Runs wrk (closed loop: each connection sends its next request when the previous answer is in)
// and parses its text report.
import { foreignCpuPercent, foreignCpuSnapshot, run } from "./processes.mjs";

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000 };

function durationMs(text) {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  return match ? Number(match[1]) * UNIT_MS[match[2]] : Number.NaN;
}

export function parseWrk(output) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN);
  const percentile = (p) => {
    const match = new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(output);
    return match ? durationMs(match[1]) : Number.NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? Number.NaN);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1, 5).reduce((sum, value) => sum + Number(value), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  return {
    rps,
    requests,
    p50Ms: percentile(50),
    p75Ms: percentile(75),
    p90Ms: percentile(90),
    p99Ms: percentile(99),
    socketErrors,
    non2xx,
  };
}

/**
 * One wrk run against 127.0.0.1:port; throws when wrk fails or reports nothing. `headers` are
 * sent on every request ("Name: value" strings, passed as -H arguments, never through a shell).
 */
export async function runWrk(
  wrkPath,
  port,
  { threads = 1, connections = 64, seconds = 5, timeoutS = 5, headers = [] } = {},
) {
  const args = [
    ...headers.flatMap((header) => ["-H", header]),
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    `--timeout`,
    `${timeoutS}s`,
    "--latency",
    `http://127.0.0.1:${port}/`,
  ];
  // Tokens stay out of error messages and the result JSON.
  const shown = args.map((arg) => (/^authorization:/i.test(arg) ? "Authorization: Bearer …" : arg));
  const before = foreignCpuSnapshot();
  const result = await run(wrkPath, args, { timeoutMs: (seconds + timeoutS + 10) * 1000 });
  const otherCpuPercent = foreignCpuPercent(before, foreignCpuSnapshot());
  const parsed = parseWrk(result.stdout);
  if (!result.ok || Number.isNaN(parsed.rps)) {
    throw new Error(`wrk ${shown.join(" ")} failed (${result.code}): ${result.stderr || result.stdout}`);
  }
  return { args: shown, ...parsed, otherCpuPercent };
}
