/**
 * JSON logs on stdout (pino). Lines are written asynchronously, so logging never blocks a
 * request: a line waits only while an earlier write is in flight, which batches them under load
 * and writes them at once when idle. They are flushed on shutdown. pino's own redaction covers the paths
 * where a secret could appear in an error or object log.
 */
import pino, { type Logger } from "pino";
import { SECRET_HEADERS } from "./redact.js";

export type { Logger };

export interface LoggerOptions {
  readonly level: string;
  /** Write synchronously (CLI commands, tests); the gateway uses async batched writes. */
  readonly sync?: boolean;
  readonly destination?: number | string;
}

export function createLogger(options: LoggerOptions): Logger {
  const redactPaths = SECRET_HEADERS.flatMap((name) => [
    `headers["${name}"]`,
    `req.headers["${name}"]`,
    `res.headers["${name}"]`,
  ]);
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: "msg",
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [...redactPaths, "token", "password", "secret", "*.token", "*.password", "*.secret"],
        censor: "[REDACTED]",
      },
    },
    pino.destination({
      dest: options.destination ?? 1,
      sync: options.sync ?? false,
      minLength: 0,
    }),
  );
}

export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // a destination that is not ready yet has nothing to flush
  }
}
