/**
 * An object store over a local directory: a key is a relative path. Directories are created
 * with mode 0700 and files with 0600 (backups are private even when encrypted); every write
 * that must survive a crash is fsynced, and so is the directory entry that names it (ext4's and
 * PostgreSQL's durable_rename()).
 */
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fsyncDirectory, writeFileDurable } from "../durable-file.js";
import { BulwarkError } from "../errors.js";
import type { ObjectStore, StoredObject } from "./object-store.js";

/** ENOSPC and friends as the errors a user can act on; other errors pass through. */
export function localWriteError(error: unknown, location: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new BulwarkError("backup_repo_full", `repository ${location} is full (${code})`, {
      details: ["free space, or remove old backups with `bulwark backup prune`"],
    });
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS" || code === "ENOTDIR") {
    return new BulwarkError(
      "backup_failed",
      `cannot write to repository ${location} (${code}); check the path and its permissions`,
    );
  }
  return error;
}

function missing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

export class LocalObjectStore implements ObjectStore {
  readonly location: string;

  constructor(root: string) {
    this.location = resolve(root);
  }

  private path(key: string): string {
    const parts = key.split("/");
    if (parts.some((part) => part === "" || part === "." || part === "..")) {
      throw new BulwarkError("internal", `invalid repository key ${JSON.stringify(key)}`);
    }
    return join(this.location, ...parts);
  }

  /** mkdir -p with mode 0700, fsyncing each new directory's parent so the entry is durable. */
  private makeDirectory(dir: string): void {
    const created: string[] = [];
    for (let current = dir; !existsSync(current); current = dirname(current)) {
      created.unshift(current);
      if (dirname(current) === current) break;
    }
    for (const path of created) {
      mkdirSync(path, { mode: 0o700 });
      fsyncDirectory(dirname(path));
    }
  }

  child(prefix: string): ObjectStore {
    return new LocalObjectStore(this.path(prefix));
  }

  async put(key: string, content: Buffer | string): Promise<void> {
    const file = this.path(key);
    try {
      this.makeDirectory(dirname(file));
      writeFileDurable(file, content);
    } catch (error) {
      throw localWriteError(error, this.location);
    }
  }

  createWriteStream(key: string): Writable {
    const file = this.path(key);
    try {
      this.makeDirectory(dirname(file));
    } catch (error) {
      throw localWriteError(error, this.location);
    }
    // "wx": never write into an existing file; flush: fsync before close, so the artifact is on
    // disk before the manifest that names it.
    return createWriteStream(file, { flags: "wx", mode: 0o600, flush: true });
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      if (missing(error)) return null;
      throw error;
    }
  }

  async open(key: string): Promise<Readable | null> {
    try {
      const handle = await open(this.path(key), "r");
      return handle.createReadStream({ highWaterMark: 1024 * 1024 });
    } catch (error) {
      if (missing(error)) return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const slash = prefix.lastIndexOf("/");
    const start = slash < 0 ? "" : prefix.slice(0, slash);
    const walk = (relative: string) => {
      let entries: string[];
      try {
        entries = readdirSync(relative ? this.path(relative) : this.location);
      } catch (error) {
        if (missing(error)) return;
        throw error;
      }
      for (const name of entries) {
        // Temp files of writes in progress (durable-file.ts) are not objects.
        if (name.startsWith(".")) continue;
        const key = relative ? `${relative}/${name}` : name;
        if (!key.startsWith(prefix) && !prefix.startsWith(`${key}/`)) continue;
        let stat: ReturnType<typeof statSync>;
        try {
          stat = statSync(this.path(key));
        } catch {
          continue; // removed meanwhile (a concurrent prune)
        }
        if (stat.isDirectory()) walk(key);
        else if (stat.isFile() && key.startsWith(prefix))
          out.push({ key, size: stat.size, modified: stat.mtime });
      }
    };
    walk(start);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listChildren(): Promise<string[]> {
    let entries: string[];
    try {
      entries = readdirSync(this.location);
    } catch (error) {
      if (missing(error)) return [];
      throw new BulwarkError(
        "backup_failed",
        `cannot read repository ${this.location} (${(error as NodeJS.ErrnoException).code})`,
      );
    }
    return entries
      .filter((name) => {
        try {
          return statSync(join(this.location, name)).isDirectory();
        } catch {
          return false;
        }
      })
      .sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const file = this.path(key);
      try {
        unlinkSync(file);
        dirs.add(dirname(file));
      } catch (error) {
        if (!missing(error)) throw error;
      }
    }
    for (const dir of dirs) fsyncDirectory(dir);
  }

  async deletePrefix(prefix: string): Promise<void> {
    const dir = this.path(prefix.replace(/\/+$/, ""));
    rmSync(dir, { recursive: true, force: true });
    if (existsSync(dirname(dir))) fsyncDirectory(dirname(dir));
  }
}
