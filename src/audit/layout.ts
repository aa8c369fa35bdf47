/**
 * File names in an audit directory (the JSONL store, and the PostgreSQL store's spool):
 *
 *   seg-<writer>-<first seq, 12 digits>.jsonl   chain records of one writer, in seq order
 *   ckp-<writer>.jsonl                          that writer's signed checkpoints
 *   prune.jsonl                                 signed prune records (bulwark audit prune)
 *   spool-<writer>.jsonl                        PostgreSQL store only: records waiting to be shipped
 *
 * A writer id is `<prefix>-<pid>-<start time, base 36>`: every process (and every gateway worker)
 * writes its own files, so several processes sharing one directory never interleave a chain.
 */
import { readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

const SEGMENT = /^seg-([A-Za-z0-9_.-]+)-(\d{12})\.jsonl$/;
const CHECKPOINTS = /^ckp-([A-Za-z0-9_.-]+)\.jsonl$/;
const SPOOL = /^spool-([A-Za-z0-9_.-]+)\.jsonl$/;
export const PRUNE_FILE = "prune.jsonl";

export function newWriterId(prefix?: string): string {
  const base = (prefix ?? hostname()).replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 48) || "host";
  return `${base}-${process.pid}-${Date.now().toString(36)}`;
}

/** The pid inside a writer id, when it has the default shape. */
export function writerPid(writer: string): number | undefined {
  const match = /-(\d+)-[0-9a-z]+$/.exec(writer);
  return match ? Number(match[1]) : undefined;
}

export function segmentName(writer: string, firstSeq: number): string {
  return `seg-${writer}-${String(firstSeq).padStart(12, "0")}.jsonl`;
}

export function checkpointName(writer: string): string {
  return `ckp-${writer}.jsonl`;
}

export function spoolName(writer: string): string {
  return `spool-${writer}.jsonl`;
}

export interface SegmentFile {
  readonly name: string;
  readonly path: string;
  readonly writer: string;
  readonly firstSeq: number;
}

export interface DirectoryListing {
  /** Segments per writer, in first-seq order. */
  readonly segments: ReadonlyMap<string, readonly SegmentFile[]>;
  readonly checkpoints: ReadonlyMap<string, string>;
  readonly spools: ReadonlyMap<string, string>;
  readonly pruneFile: string | undefined;
}

export function listDirectory(dir: string): DirectoryListing {
  const segments = new Map<string, SegmentFile[]>();
  const checkpoints = new Map<string, string>();
  const spools = new Map<string, string>();
  let pruneFile: string | undefined;
  for (const name of readdirSync(dir).sort()) {
    const segment = SEGMENT.exec(name);
    if (segment) {
      const writer = segment[1]!;
      const list = segments.get(writer) ?? [];
      list.push({ name, path: join(dir, name), writer, firstSeq: Number(segment[2]) });
      segments.set(writer, list);
      continue;
    }
    const checkpoint = CHECKPOINTS.exec(name);
    if (checkpoint) {
      checkpoints.set(checkpoint[1]!, join(dir, name));
      continue;
    }
    const spool = SPOOL.exec(name);
    if (spool) {
      spools.set(spool[1]!, join(dir, name));
      continue;
    }
    if (name === PRUNE_FILE) pruneFile = join(dir, name);
  }
  for (const list of segments.values()) list.sort((a, b) => a.firstSeq - b.firstSeq);
  return { segments, checkpoints, spools, pruneFile };
}
