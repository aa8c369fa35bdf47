/**
 * Progress while a run is going: one plain line per interval when stderr is not a terminal
 * (CI logs stay readable), one line rewritten in place when it is.
 */
import type { Progress } from "./run.js";

export function formatProgress(progress: Progress): string {
  const elapsed = Math.min(progress.elapsedMs, progress.durationMs) / 1000;
  const p99 = progress.p99 === null ? "n/a" : `${progress.p99.toFixed(1)}ms`;
  const generator = progress.generator
    ? `  cpu ${Math.round(progress.generator.cpu * 100)}% loop ${Math.round(progress.generator.utilization * 100)}% lag ${progress.generator.lagMaxMs.toFixed(0)}ms`
    : "";
  return `${elapsed.toFixed(0)}s/${(progress.durationMs / 1000).toFixed(0)}s  rate ${progress.rate.toFixed(1)}/s  p99 ${p99}  errors ${progress.errors}  dropped ${progress.dropped}${generator}`;
}

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): {
  print(progress: Progress): void;
  finish(): void;
} {
  const tty = stream.isTTY === true;
  let wrote = false;
  return {
    print(progress) {
      const line = formatProgress(progress);
      if (tty) {
        stream.write(`\r\x1b[2K${line}`);
        wrote = true;
      } else stream.write(`${line}\n`);
    },
    finish() {
      if (tty && wrote) stream.write("\r\x1b[2K");
    },
  };
}
