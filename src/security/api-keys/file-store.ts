/**
 * The embedded default store: one JSON file (mode 0600) holding every record, read whole into
 * memory, so the gateway answers lookups without I/O (peek). Format:
 *
 *     { "format": "bulwark-api-keys", "version": 1,
 *       "keys": [ { "id": "…", "name": "…", "hash": "…", "scopes": [], "createdAt": "ISO-8601", … } ] }
 *
 * Writes hold a lock file (src/file-lock.ts), re-read the file, change it and replace it atomically
 * (temp file + fsync + rename + directory fsync), so racing CLI invocations never lose a key and
 * a crash never leaves half a file. Readers watch the directory (editors and `rename` replace the
 * inode) and poll its stat as a fallback, since fs.watch misses events on some filesystems
 * (NFS, some container volumes).
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { type ConfigWatch, watchConfigFile } from "../../config/watch.js";
import { writeFileDurable } from "../../durable-file.js";
import { BulwarkError } from "../../errors.js";
import { withFileLock } from "../../file-lock.js";
import { type ApiKeyRecord, storedRecordSchema } from "./record.js";
import type { ApiKeyStore } from "./store.js";

const FORMAT = "bulwark-api-keys";
const TIME_FIELDS = [
  "createdAt",
  "expiresAt",
  "lastUsedAt",
  "revokedAt",
  "rotatedAt",
  "previousValidUntil",
] as const;

export interface FileStoreOptions {
  readonly path: string;
  /** Longest wait for the lock, in milliseconds. */
  readonly lockTimeout?: number;
  /** Stat poll interval when watching, in milliseconds. */
  readonly pollInterval?: number;
  readonly onWarning?: (message: string) => void;
}

type Snapshot = ReadonlyMap<string, ApiKeyRecord>;

export class FileStore implements ApiKeyStore {
  readonly kind = "file";
  private snapshot: Snapshot | undefined;
  private signature = "";
  private watcher: ConfigWatch | undefined;
  private poller: NodeJS.Timeout | undefined;
  private warnedMode = false;
  private listener: ((id: string | undefined) => void) | undefined;

  constructor(private readonly options: FileStoreOptions) {}

  get ready(): boolean {
    return this.snapshot !== undefined;
  }

  async open(): Promise<void> {
    this.refresh();
  }

  peek(id: string): ApiKeyRecord | null | undefined {
    if (!this.snapshot) return undefined;
    return this.snapshot.get(id) ?? null;
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.refresh().get(id);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return [...this.refresh().values()];
  }

  insert(record: ApiKeyRecord): Promise<boolean> {
    return this.mutate((keys) => {
      if (keys.has(record.id)) return false;
      keys.set(record.id, record);
      return true;
    }, record.id);
  }

  replace(record: ApiKeyRecord, expectedRevision: number): Promise<boolean> {
    return this.mutate((keys) => {
      if (keys.get(record.id)?.revision !== expectedRevision) return false;
      keys.set(record.id, record);
      return true;
    }, record.id);
  }

  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    await this.mutate((keys) => {
      let changed = false;
      for (const [id, at] of lastUsed) {
        const record = keys.get(id);
        if (record && (record.lastUsedAt === null || record.lastUsedAt < at)) {
          keys.set(id, { ...record, lastUsedAt: at });
          changed = true;
        }
      }
      return changed;
    });
  }

  watch(onChange: (id: string | undefined) => void): void {
    if (this.watcher) return;
    this.listener = onChange;
    // Only readers (the gateway) watch: for them a missing file is worth a line, for the CLI not.
    if (this.statSignature() === "missing") {
      this.options.onWarning?.(
        `api key file ${this.options.path} does not exist yet; no key is accepted until \`bulwark keys create\` writes it`,
      );
    }
    const check = () => {
      const before = this.signature;
      try {
        this.refresh();
      } catch (error) {
        // A corrupt file (a bad hand edit) keeps the last good records serving.
        this.options.onWarning?.(`api key file not reloaded: ${(error as Error).message}`);
        return;
      }
      if (this.signature !== before) onChange(undefined);
    };
    this.watcher = watchConfigFile(
      this.options.path,
      check,
      (message) => this.options.onWarning?.(message),
      50,
    );
    this.poller = setInterval(check, this.options.pollInterval ?? 2000);
    this.poller.unref();
  }

  async close(): Promise<void> {
    this.watcher?.close();
    clearInterval(this.poller);
    this.watcher = undefined;
  }

  /** Re-reads the file when its inode, size or mtime changed; a missing file is an empty store. */
  private refresh(): Snapshot {
    const signature = this.statSignature();
    if (this.snapshot && signature === this.signature) return this.snapshot;
    const keys = signature === "missing" ? new Map<string, ApiKeyRecord>() : this.read();
    this.snapshot = keys;
    this.signature = signature;
    return keys;
  }

  private statSignature(): string {
    try {
      const stat = statSync(this.options.path);
      if ((stat.mode & 0o077) !== 0 && !this.warnedMode) {
        this.warnedMode = true;
        this.options.onWarning?.(
          `api key file ${this.options.path} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`,
        );
      }
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
      throw this.unreadable(error);
    }
  }

  private read(): Map<string, ApiKeyRecord> {
    let text: string;
    try {
      text = readFileSync(this.options.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Map();
      throw this.unreadable(error);
    }
    return parseKeyFile(text, this.options.path);
  }

  private unreadable(error: unknown): BulwarkError {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    return new BulwarkError(
      "api_key_store_unavailable",
      `api key store (file) cannot read ${this.options.path} (${code}); check the path and its permissions`,
    );
  }

  /** `changedId`: the record whose acceptance may change (not for last-used bookkeeping). */
  private async mutate(
    change: (keys: Map<string, ApiKeyRecord>) => boolean,
    changedId?: string,
  ): Promise<boolean> {
    const path = this.options.path;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    } catch (error) {
      throw this.unreadable(error);
    }
    const lock = {
      timeout: this.options.lockTimeout ?? 10_000,
      subject: "api key store (file)",
      code: "api_key_store_unavailable",
    } as const;
    return withFileLock(`${path}.lock`, lock, () => {
      // Under the lock, always from disk: another process may have written since our snapshot,
      // and whoever watches must hear about that write too.
      const seen = this.signature;
      const onDisk = this.statSignature();
      const keys = onDisk === "missing" ? new Map<string, ApiKeyRecord>() : this.read();
      const othersWrote = onDisk !== seen;
      if (!change(keys)) {
        if (othersWrote) {
          this.snapshot = keys;
          this.signature = onDisk;
          this.listener?.(undefined);
        }
        return false;
      }
      try {
        writeFileDurable(path, serializeKeyFile(keys.values()));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "error";
        throw new BulwarkError(
          "api_key_store_unavailable",
          `api key store (file) cannot write ${path} (${code}); check free space and permissions`,
        );
      }
      this.snapshot = keys;
      this.signature = this.statSignature();
      if (othersWrote) this.listener?.(undefined);
      else if (changedId !== undefined) this.listener?.(changedId);
      return true;
    });
  }
}

export function serializeKeyFile(records: Iterable<ApiKeyRecord>): string {
  const keys = [...records]
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
    .map((record) => {
      const out: Record<string, unknown> = { ...record };
      for (const field of TIME_FIELDS) {
        const value = record[field];
        out[field] = value === null ? null : new Date(value).toISOString();
      }
      return out;
    });
  return `${JSON.stringify({ format: FORMAT, version: 1, keys }, null, 2)}\n`;
}

/** Parses and validates a keys file; errors name the file and the record, never a digest. */
export function parseKeyFile(text: string, path: string): Map<string, ApiKeyRecord> {
  const corrupt = (why: string) =>
    new BulwarkError(
      "api_key_store_corrupt",
      `api key file ${path} is not valid: ${why}; restore it from a backup or fix the entry`,
    );
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw corrupt("not JSON");
  }
  const head = document as { format?: unknown; version?: unknown; keys?: unknown } | null;
  if (head === null || typeof head !== "object" || head.format !== FORMAT || head.version !== 1) {
    throw corrupt(`expected {"format": "${FORMAT}", "version": 1, "keys": […]}`);
  }
  if (!Array.isArray(head.keys)) throw corrupt("keys is not a list");
  const keys = new Map<string, ApiKeyRecord>();
  for (const [index, entry] of head.keys.entries()) {
    const fields: Record<string, unknown> =
      entry !== null && typeof entry === "object" ? { ...(entry as object) } : {};
    for (const field of TIME_FIELDS) {
      const value = fields[field];
      if (typeof value === "string") {
        const ms = Date.parse(value);
        fields[field] = Number.isNaN(ms) ? value : ms;
      }
    }
    const parsed = storedRecordSchema.safeParse(fields);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw corrupt(`keys[${index}].${issue.path.join(".")}: ${issue.message.toLowerCase()}`);
    }
    if (keys.has(parsed.data.id)) throw corrupt(`keys[${index}]: duplicate id ${parsed.data.id}`);
    keys.set(parsed.data.id, parsed.data);
  }
  return keys;
}
