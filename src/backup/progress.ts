/**
 * Progress of a backup, restore or drill on stderr: one line rewritten in place on a terminal,
 * a plain line every few seconds otherwise (CI and journald logs stay readable).
 */
export interface ProgressLine {
  update(line: string): void;
  finish(): void;
}

export function progressLine(stream: NodeJS.WriteStream = process.stderr, plainEveryMs = 5000): ProgressLine {
  const tty = stream.isTTY === true;
  let wrote = false;
  let lastPlain = 0;
  return {
    update(line) {
      if (tty) {
        stream.write(`\r\x1b[2K${line}`);
        wrote = true;
        return;
      }
      const now = Date.now();
      if (now - lastPlain >= plainEveryMs) {
        lastPlain = now;
        stream.write(`${line}\n`);
      }
    },
    finish() {
      if (tty && wrote) stream.write("\r\x1b[2K");
      wrote = false;
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Runs `body` with an AbortSignal that SIGINT/SIGTERM trigger; a second signal exits at once. */
export async function withInterrupt<T>(
  onFirst: string,
  body: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${onFirst}\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await body(controller.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
