/**
 * Times on the audit CLI: `--since`/`--until` take an ISO 8601 date or time, or an age such as
 * "24h" or "7d" (that long before now); `--older-than` takes an age.
 */
import { parseDuration } from "../config/units.js";
import { BulwarkError } from "../errors.js";

export function parseTimeBound(flag: string, text: string, now = Date.now()): Date {
  const age = parseDuration(text);
  if (age !== undefined) return new Date(now - age);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new BulwarkError(
    "usage",
    `--${flag} ${JSON.stringify(text)}: expected an ISO 8601 time ("2026-01-31", "2026-01-31T12:00:00Z") or an age ("24h", "7d")`,
  );
}
