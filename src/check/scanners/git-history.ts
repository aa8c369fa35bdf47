/**
 * `--history`: secrets in lines that commits added, read from `git log -p` (spawned with an argv
 * array, never a shell). Bounded by a commit count, a byte count and a time limit; hitting a
 * bound ends the scan with a warning, never silently.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Finding } from "../findings.js";
import { type SecretAllowList, scanSecrets } from "./secrets.js";
import { secretSeverityForPath } from "./test-code.js";

export interface HistoryLimits {
  readonly maxCommits: number;
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = {
  maxCommits: 1000,
  maxBytes: 256 * 1024 * 1024,
  timeoutMs: 120_000,
};

export interface HistoryResult {
  readonly findings: Finding[];
  readonly warnings: string[];
  readonly commits: number;
}

export async function scanHistory(
  root: string,
  allow: SecretAllowList,
  limits: HistoryLimits = DEFAULT_HISTORY_LIMITS,
  skipPath: (path: string) => boolean = () => false,
  signal?: AbortSignal,
): Promise<HistoryResult> {
  if (!existsSync(join(root, ".git"))) {
    return { findings: [], warnings: [`${root} is not a git repository; --history skipped`], commits: 0 };
  }
  const child = spawn(
    "git",
    [
      "-C",
      root,
      "log",
      "-p",
      "--no-color",
      "--no-ext-diff",
      "--unified=0",
      `--max-count=${limits.maxCommits}`,
      "--format=commit %H",
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GIT_PAGER: "cat", LC_ALL: "C" } },
  );
  const findings: Finding[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  let stderr = "";
  let spawnError: string | undefined;
  child.once("error", (error) => {
    spawnError = error.message;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  let bytes = 0;
  let commits = 0;
  let stopped: string | undefined;
  const onAbort = () => {
    stopped = "--history interrupted";
    child.kill("SIGKILL");
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => {
    stopped = `--history stopped after ${limits.timeoutMs / 1000} s`;
    child.kill("SIGKILL");
  }, limits.timeoutMs);

  let commit = "";
  let path: string | undefined;
  let nextLine = 0;
  let block: string[] = [];
  let blockLines: number[] = [];
  const flush = () => {
    if (path !== undefined && block.length > 0 && !skipPath(path)) {
      const file = path;
      const lines = blockLines;
      for (const hit of scanSecrets(
        block.join("\n"),
        file,
        allow,
        (line) => `${file}:${lines[line - 1] ?? 0}@${commit.slice(0, 12)}`,
      )) {
        // The newest commit that added a secret is reported; older copies of the same value are not.
        if (seen.has(hit.key)) continue;
        seen.add(hit.key);
        findings.push(secretSeverityForPath(hit.finding, file));
      }
    }
    block = [];
    blockLines = [];
  };
  const reader = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of reader) {
    bytes += line.length + 1;
    if (bytes > limits.maxBytes) {
      stopped = `--history stopped after ${limits.maxBytes} bytes of patches`;
      child.kill("SIGKILL");
      break;
    }
    if (line.startsWith("commit ")) {
      flush();
      commit = line.slice(7);
      commits += 1;
      path = undefined;
    } else if (line.startsWith("+++ ")) {
      flush();
      path = line === "+++ /dev/null" ? undefined : line.slice(4).replace(/^b\//, "");
    } else if (line.startsWith("@@")) {
      const match = /\+(\d+)/.exec(line);
      nextLine = match ? Number(match[1]) : 0;
    } else if (line.startsWith("+") && path !== undefined) {
      block.push(line.slice(1));
      blockLines.push(nextLine);
      nextLine += 1;
    }
  }
  flush();
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("close", (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  signal?.removeEventListener("abort", onAbort);
  if (spawnError) warnings.push(`cannot run git (${spawnError}); --history skipped (apt-get install -y git)`);
  else if (stopped) warnings.push(`${stopped}; older history was not scanned`);
  else if (code !== 0)
    warnings.push(
      `git log failed (exit ${code}): ${stderr.trim().split("\n")[0] ?? ""}; history not fully scanned`,
    );
  return { findings, warnings, commits };
}
