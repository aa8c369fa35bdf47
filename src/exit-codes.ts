/**
 * Every exit code the `bulwark` command can return, in one place (as k6's `exitcodes`).
 * Scripts and CI match on these numbers; never reuse one for a different meaning.
 */
export const ExitCode = {
  /** The command did what it was asked. */
  Ok: 0,
  /** The command ran, and what it found fails the bar: findings, thresholds, a failed drill. */
  Failed: 1,
  /** Bad usage or invalid configuration: nothing was started. */
  UsageOrConfig: 2,
  /** Something outside Bulwark's input broke at run time (port in use, upstream refused at start). */
  Runtime: 3,
  /**
   * Interrupted (128 + SIGINT, the shell convention): `serve` cut short by a second signal before
   * its drain finished; `load` stopped by Ctrl-C, after writing its partial report.
   */
  Interrupted: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
