/**
 * Local copies of a remote repository's objects, for the commands that read one backup several
 * times: a restore or a drill reads every artifact three times (SHA-256 against the manifest,
 * every chunk authenticated, then into pg_restore), and a point-in-time restore reads its base
 * backup twice. From S3 that would be three downloads; with this store the first read of an
 * object is written to a private local file as it streams by, and later reads come from that
 * file. Only objects read to the end are kept (a read that fails or stops early leaves nothing),
 * writes and removals through the store drop the copy, and the copies are removed on dispose().
 *
 * The copies hold exactly the repository's bytes: artifacts stay encrypted, so plaintext still
 * never touches disk. They go to the system temp directory (TMPDIR), in a 0700 directory of 0600
 * files; when it cannot take them (a full disk), the read goes on from the repository and the
 * object is fetched again next time, with one warning.
 */
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  renameSync,
  rmSync,
  statfsSync,
  type WriteStream,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished, pipeline, type Readable, Transform, type Writable } from "node:stream";
import { LocalObjectStore } from "./local-object-store.js";
import type { ObjectStore, StoredObject } from "./object-store.js";
import { formatBytes } from "./progress.js";

/** What the store and its children (store.child) share: one directory, one set of copies. */
interface Copies {
  readonly dir: string;
  /** Full key (with every child prefix) → file of a complete copy. */
  readonly files: Map<string, string>;
  next: number;
  /** Set once copying failed (a full disk): no more copies are attempted. */
  disabled: boolean;
  readonly onWarning: (message: string) => void;
}

export interface LocalCopyOptions {
  /** Where the copy directory is made (default: the system temp directory). */
  readonly parent?: string;
  /**
   * The bytes the copies will take, when known (a backup's artifacts): no copies are made when
   * they would leave the file system with less than 5 % (and 256 MiB) free, so a restore never
   * fills the disk other programs write to.
   */
  readonly bytes?: number;
  /** Told once when copies cannot be written; the reads go on from the repository. */
  readonly onWarning?: (message: string) => void;
}

export class LocalCopyStore implements ObjectStore {
  private readonly inner: ObjectStore;
  private readonly copies: Copies;
  /** This store's prefix inside the copies' key space ("" at the top, "base/" for a child). */
  private readonly prefix: string;

  constructor(inner: ObjectStore, options: LocalCopyOptions = {}, copies?: Copies, prefix = "") {
    this.inner = inner;
    this.prefix = prefix;
    this.copies = copies ?? {
      dir: mkdtempSync(join(options.parent ?? tmpdir(), "bulwark-fetch-")),
      files: new Map(),
      next: 0,
      disabled: false,
      onWarning: options.onWarning ?? (() => {}),
    };
  }

  get location(): string {
    return this.inner.location;
  }

  /** Removes every local copy (the commands call it when they finish, however they finish). */
  dispose(): void {
    this.copies.disabled = true;
    this.copies.files.clear();
    rmSync(this.copies.dir, { recursive: true, force: true });
  }

  child(prefix: string): ObjectStore {
    return new LocalCopyStore(this.inner.child(prefix), {}, this.copies, `${this.prefix}${prefix}/`);
  }

  async open(key: string): Promise<Readable | null> {
    const full = this.prefix + key;
    const copy = this.copies.files.get(full);
    if (copy !== undefined) return createReadStream(copy, { highWaterMark: 1024 * 1024 });
    const source = await this.inner.open(key);
    if (!source || this.copies.disabled) return source;
    return this.copying(full, source);
  }

  /**
   * `source` passed through unchanged, each chunk also written to a temporary file (the reader
   * waits whenever the file falls 1 MiB behind); the file becomes the copy only once the source
   * has ended and the file is flushed.
   */
  private copying(full: string, source: Readable): Readable {
    const copies = this.copies;
    const partial = join(copies.dir, `${copies.next++}.part`);
    let file: WriteStream | undefined = createWriteStream(partial, {
      flags: "wx",
      mode: 0o600,
      highWaterMark: 1024 * 1024,
    });
    let resume: (() => void) | undefined;
    const release = () => {
      const waiting = resume;
      resume = undefined;
      waiting?.();
    };
    const drop = () => {
      file?.destroy();
      file = undefined;
      rmSync(partial, { force: true });
      release();
    };
    const giveUp = (error: Error) => {
      // The reader keeps its bytes; only the copy is abandoned (and no more are tried).
      drop();
      if (!copies.disabled) {
        copies.disabled = true;
        copies.onWarning(
          `cannot keep a local copy of the repository's objects in ${copies.dir} (${error.message}); reading them from the repository each time instead`,
        );
      }
    };
    file.on("error", giveUp);
    file.on("drain", release);
    const tee = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (!file || file.write(chunk)) return callback(null, chunk);
        resume = () => callback(null, chunk);
      },
      flush(callback) {
        const written = file;
        if (!written) return callback();
        written.end();
        finished(written, (error) => {
          if (error || file !== written) {
            if (error) giveUp(error);
            return callback();
          }
          const complete = join(copies.dir, `${copies.next++}.copy`);
          try {
            renameSync(partial, complete);
            copies.files.set(full, complete);
          } catch (renameError) {
            giveUp(renameError as Error);
          }
          file = undefined;
          callback();
        });
      },
    });
    // An error on either side (the repository failing, the reader going away) ends both, and a
    // copy that did not see the end is removed.
    pipeline(source, tee, (error) => {
      if (error) drop();
    });
    return tee;
  }

  private forget(key: string): void {
    const full = this.prefix + key;
    const copy = this.copies.files.get(full);
    if (copy === undefined) return;
    this.copies.files.delete(full);
    rmSync(copy, { force: true });
  }

  async put(key: string, content: Buffer | string): Promise<void> {
    this.forget(key);
    await this.inner.put(key, content);
  }

  createWriteStream(key: string): Writable {
    this.forget(key);
    return this.inner.createWriteStream(key);
  }

  get(key: string): Promise<Buffer | null> {
    return this.inner.get(key);
  }

  list(prefix: string): Promise<StoredObject[]> {
    return this.inner.list(prefix);
  }

  listChildren(): Promise<string[]> {
    return this.inner.listChildren();
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.forget(key);
    await this.inner.delete(keys);
  }

  async deletePrefix(prefix: string): Promise<void> {
    const full = `${this.prefix}${prefix}/`;
    for (const [key, copy] of this.copies.files) {
      if (!key.startsWith(full)) continue;
      this.copies.files.delete(key);
      rmSync(copy, { force: true });
    }
    await this.inner.deletePrefix(prefix);
  }
}

/**
 * Runs `use` with `store` read through local copies when it is remote (S3); a local directory is
 * read in place (a second read of a local file costs little: the page cache has it). The copies
 * are removed when `use` settles.
 */
export async function withLocalCopies<T>(
  store: ObjectStore,
  options: LocalCopyOptions,
  use: (store: ObjectStore) => Promise<T>,
): Promise<T> {
  if (store instanceof LocalObjectStore) return use(store);
  const parent = options.parent ?? tmpdir();
  const room = options.bytes === undefined ? undefined : roomFor(parent, options.bytes);
  if (room !== undefined) {
    options.onWarning?.(
      `not enough free space in ${parent} for local copies of the backup (${room}); reading the repository's objects from it each time instead (set TMPDIR to a roomier directory to download once)`,
    );
    return use(store);
  }
  let copies: LocalCopyStore;
  try {
    copies = new LocalCopyStore(store, options);
  } catch (error) {
    options.onWarning?.(
      `cannot make a directory for local copies in ${parent} (${(error as Error).message}); reading the repository's objects from it each time instead`,
    );
    return use(store);
  }
  try {
    return await use(copies);
  } finally {
    copies.dispose();
  }
}

/** Why `bytes` more would leave `dir`'s file system too full, or undefined when they fit. */
function roomFor(dir: string, bytes: number): string | undefined {
  let stats: { bsize: number; blocks: number; bavail: number };
  try {
    stats = statfsSync(dir);
  } catch {
    return undefined; // a missing directory is reported when the copy directory is made
  }
  const size = stats.blocks * stats.bsize;
  const free = stats.bavail * stats.bsize;
  const reserve = Math.max(0.05 * size, 256 * 1024 * 1024);
  if (free - bytes >= reserve) return undefined;
  return `${formatBytes(free)} free, ${formatBytes(bytes)} needed, ${formatBytes(reserve)} kept free`;
}
