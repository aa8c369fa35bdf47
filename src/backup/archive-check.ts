/**
 * A pass-through check that a program's output really is the archive it should be, before it is
 * encrypted and a backup marked complete: a pg_dump custom archive starts with "PGDMP" (pg_dump's
 * pg_backup_archiver.c), a tar with a 512-byte header holding "ustar" at offset 257 (POSIX.1-2001
 * ustar). An empty or foreign stream fails the backup instead of becoming a complete backup of
 * nothing.
 */
import { Transform, type TransformCallback } from "node:stream";
import { BulwarkError } from "../errors.js";

const FORMATS = {
  "pg_dump custom archive": {
    minimum: 5,
    matches: (head: Buffer) => head.subarray(0, 5).toString("latin1") === "PGDMP",
  },
  "tar archive": {
    minimum: 512,
    matches: (head: Buffer) => head.subarray(257, 262).toString("latin1") === "ustar",
  },
} as const;

export type ArchiveFormat = keyof typeof FORMATS;

export function expectArchive(format: ArchiveFormat, producer: string): Transform {
  const spec = FORMATS[format];
  let head = Buffer.alloc(0);
  let checked = false;
  const fail = (what: string) =>
    new BulwarkError(
      "backup_failed",
      `${producer} did not produce a ${format} (${what}); nothing was marked complete`,
    );
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!checked) {
        head = Buffer.concat([head, chunk]);
        if (head.length >= spec.minimum) {
          checked = true;
          if (!spec.matches(head)) return callback(fail("unexpected first bytes"));
        }
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      callback(checked ? null : fail(head.length === 0 ? "empty output" : `only ${head.length} bytes`));
    },
  });
}
