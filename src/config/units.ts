/**
 * Durations ("250ms", "30s", "5m", "1h", "90d", "2w") and sizes ("512b", "16kb", "1mb", "1gb") as config
 * accepts them. Plain numbers are milliseconds and bytes. Binary multiples (1kb = 1024 bytes),
 * as nginx's `client_max_body_size` reads them.
 */
import { z } from "zod";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const SIZE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)$/i;
const SIZE_BYTES = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;

export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_MS[match[2] as keyof typeof DURATION_MS]);
}

export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * SIZE_BYTES[match[2]!.toLowerCase() as keyof typeof SIZE_BYTES]);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ["gb", SIZE_BYTES.gb],
    ["mb", SIZE_BYTES.mb],
    ["kb", SIZE_BYTES.kb],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}b`;
}

/** A duration in config: "30s" or a number of milliseconds; parsed to milliseconds. */
export function duration(description: string) {
  return z
    .union([
      z.number().int().nonnegative(),
      z
        .string()
        .regex(DURATION, { message: 'expected a duration such as "500ms", "30s", "5m", "1h" or "7d"' }),
    ])
    .transform((value) => (typeof value === "number" ? value : parseDuration(value)!))
    .describe(description);
}

/** A size in config: "1mb" or a number of bytes; parsed to bytes. */
export function size(description: string) {
  return z
    .union([
      z.number().int().nonnegative(),
      z.string().regex(SIZE, { message: 'expected a size such as "512b", "16kb", "1mb" or "1gb"' }),
    ])
    .transform((value) => (typeof value === "number" ? value : parseSize(value)!))
    .describe(description);
}
