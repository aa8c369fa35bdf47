/**
 * JSON logs on stdout. Two writers share one destination (pino's sonic-boom):
 *
 * - the operational logger (pino: start, reload, errors) redacts secret-looking fields as a
 *   safety net, since error objects can carry anything;
 * - the access log writes one line per request, in the same line format, from a fixed set of
 *   fields the gateway has already redacted (query strings, referers; no header values). It
 *   serializes with one JSON.stringify: pino's generic path cost about 6 µs per line in
 *   isolation and several times that under load, a quarter of the gateway's CPU per request.
 *
 * Writes are asynchronous and batched (up to 64 KiB, flushed at least every 200 ms and on
 * shutdown and exit), so logging never blocks a request and does not cost a system call per line.
 * Lines are UTF-8 encoded once, straight into the batch buffer (LineBatcher below); sonic-boom
 * then writes whole buffers. Its own string mode measured the whole pending batch
 * (Buffer.byteLength) on every line and converted each written batch twice, which cost more
 * than serializing the line.
 */
import { writeSync } from "node:fs";
import pino, { type DestinationStream, type Logger } from "pino";
import { type RequestAccessRecord, requestAccessMembers } from "./access-line.js";
import { SECRET_HEADERS } from "./redact.js";

export type { Logger };

export interface LoggerOptions {
  readonly level: string;
  /** Write synchronously (CLI commands, tests); the gateway uses async batched writes. */
  readonly sync?: boolean;
  readonly destination?: number | string;
}

/** One JSON line per request. */
export interface AccessLog {
  readonly enabled: boolean;
  /** Writes the record as a line; `msg` and the record's own fields follow level, time and pid. */
  write(record: Record<string, unknown>): void;
  /** The line of a proxied request: the same line as write(record) gives, made faster (access-line.ts). */
  request(record: RequestAccessRecord): void;
}

export interface Loggers {
  readonly logger: Logger;
  readonly access: AccessLog;
}

type SonicBoom = ReturnType<typeof pino.destination>;

const FLUSH_INTERVAL_MS = 200;
/** Batch size: about 200 access lines per write system call. */
const BATCH_BYTES = 64 * 1024;

function baseOptions(level: string): pino.LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: "msg",
    formatters: { level: (label) => ({ level: label }) },
  };
}

export function createLoggers(options: LoggerOptions): Loggers {
  const sync = options.sync ?? false;
  const dest = options.destination ?? 1;
  const destination: DestinationStream = sync
    ? pino.destination({ dest, sync, minLength: 0 })
    : new LineBatcher(pino.destination({ dest, sync, minLength: 0, contentMode: "buffer" }));
  if (!sync) setInterval(() => flushDestination(destination), FLUSH_INTERVAL_MS).unref();
  const redactPaths = SECRET_HEADERS.flatMap((name) => [
    `headers["${name}"]`,
    `req.headers["${name}"]`,
    `res.headers["${name}"]`,
  ]);
  const logger = pino(
    {
      ...baseOptions(options.level),
      redact: {
        paths: [...redactPaths, "token", "password", "secret", "*.token", "*.password", "*.secret"],
        censor: "[REDACTED]",
      },
    },
    destination,
  );
  return { logger, access: accessLog(destination, logger.isLevelEnabled("info")) };
}

/** The operational logger alone (commands that write no access lines). */
export function createLogger(options: LoggerOptions): Logger {
  return createLoggers(options).logger;
}

function accessLog(destination: DestinationStream, enabled: boolean): AccessLog {
  const prefix = `{"level":"info","time":"`;
  const pid = `","pid":${process.pid},`;
  // Formatting a timestamp costs about 1 µs; under load many lines share a millisecond.
  let stampedAt = 0;
  let stamp = "";
  const stampNow = (): string => {
    const now = Date.now();
    if (now !== stampedAt) {
      stampedAt = now;
      stamp = new Date(now).toISOString();
    }
    return stamp;
  };
  return {
    enabled,
    write(record: Record<string, unknown>): void {
      if (!enabled) return;
      // JSON.stringify(record) starts with "{": splice the common fields in front of its members.
      destination.write(`${prefix}${stampNow()}${pid}${JSON.stringify(record).slice(1)}\n`);
    },
    request(record: RequestAccessRecord): void {
      if (!enabled) return;
      destination.write(`${prefix}${stampNow()}${pid}${requestAccessMembers(record)}\n`);
    },
  };
}

const batchers = new Set<LineBatcher>();

function flushBatchersAtExit(): void {
  for (const batcher of batchers) batcher.flushSync();
}

/**
 * Collects lines in a buffer, encoding each once, and hands the buffer to sonic-boom (buffer
 * mode, which writes buffers as given) when the next line might not fit, on flush, and at exit.
 * Both loggers write through one batcher, so lines keep their order and each write() system call
 * carries whole lines.
 */
class LineBatcher implements DestinationStream {
  private batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  private used = 0;

  constructor(private readonly sink: SonicBoom) {
    // At exit the event loop is gone: what is still here is written synchronously, after what
    // sonic-boom holds (pino flushes that in its own exit handler, which may run before or after
    // this one). One process listener serves every batcher.
    if (batchers.size === 0) process.once("exit", flushBatchersAtExit);
    batchers.add(this);
  }

  write(line: string): boolean {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit: a bound that needs no pass over the line.
    if (this.used + line.length * 3 > BATCH_BYTES) {
      this.handOver();
      if (line.length * 3 > BATCH_BYTES) {
        this.sink.write(Buffer.from(line, "utf8") as unknown as string);
        return true;
      }
    }
    this.used += this.batch.write(line, this.used, "utf8");
    return true;
  }

  /** Passes the batch on; a mostly empty one is copied so its buffer can be reused. */
  private handOver(): void {
    if (this.used === 0) return;
    let full: Buffer;
    if (this.used < BATCH_BYTES / 4) {
      full = Buffer.from(this.batch.subarray(0, this.used));
    } else {
      full = this.batch.subarray(0, this.used);
      this.batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    }
    this.used = 0;
    // sonic-boom's buffer mode takes buffers; its type declares strings only.
    this.sink.write(full as unknown as string);
  }

  flush(callback?: (error?: Error) => void): void {
    this.handOver();
    this.sink.flush(callback);
  }

  flushSync(): void {
    const rest = this.batch.subarray(0, this.used);
    this.used = 0;
    try {
      this.sink.flushSync();
      // sonic-boom's file descriptor (its type does not declare the field)
      writeAllSync((this.sink as unknown as { fd: number }).fd, rest);
    } catch {
      // the destination is closed or not ready: nothing more can be written
    }
  }
}

/** fs.writeSync until every byte is written; a full pipe (EAGAIN) is waited out for up to 1 s. */
function writeAllSync(fd: number, buffer: Buffer): void {
  let offset = 0;
  let waits = 0;
  while (offset < buffer.length) {
    try {
      offset += writeSync(fd, buffer, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN" || ++waits > 100) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

function flushDestination(destination: DestinationStream & { flush?: () => void }): void {
  try {
    destination.flush?.();
  } catch {
    // a destination that is not ready yet has nothing to flush
  }
}

export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // a destination that is not ready yet has nothing to flush
  }
}
