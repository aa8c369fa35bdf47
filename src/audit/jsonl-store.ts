/**
 * The embedded store: append-only JSONL segment files in a local directory (file names in
 * layout.ts). A segment is never rewritten; a new one starts when the current one passes
 * `rotateSize` or `rotateAge`, and after a write error (so a failing file is left behind whole).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AppendFile } from "./append-file.js";
import { checkpointName, segmentName } from "./layout.js";
import { recordLine } from "./record.js";
import type { JsonlStoreConfig } from "./schema.js";
import { type AuditSink, batchLines, type Durable, type PersistBatch, type SinkObserver } from "./sink.js";
import { SyncPolicy } from "./sync-policy.js";

/** Creates the directory (mode 0700) at start, so a bad path is refused before serving. */
export function prepareDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export class JsonlSink implements AuditSink {
  readonly kind = "jsonl";
  readonly spooling = false;
  private segment: AppendFile | undefined;
  private segmentOpenedAt = 0;
  private checkpoints: AppendFile | undefined;
  private readonly policy: SyncPolicy;
  private healthy = true;

  constructor(
    private readonly config: Pick<
      JsonlStoreConfig,
      "dir" | "durability" | "batchInterval" | "rotateSize" | "rotateAge"
    >,
    private readonly writer: string,
    private readonly observer: SinkObserver,
  ) {
    prepareDirectory(config.dir);
    this.policy = new SyncPolicy(config.durability, config.batchInterval, () => this.syncFiles());
  }

  async write(batch: PersistBatch): Promise<Durable> {
    try {
      const first = batch.records[0];
      if (first) {
        const segment = await this.segmentFor(first.seq);
        await segment.append(batchLines(batch.records.map(recordLine)));
      }
      if (batch.checkpoints.length > 0) {
        // A checkpoint must never reach the disk before the records it covers, or a power loss
        // would leave a checkpoint past the end of the chain (which verify reports as a cut).
        await this.policy.flush();
        await this.segment?.sync();
        this.checkpoints ??= await AppendFile.open(join(this.config.dir, checkpointName(this.writer)), false);
        await this.checkpoints.append(batchLines(batch.checkpoints.map(recordLine)));
      }
      await this.policy.afterWrite();
    } catch (error) {
      await this.fail(error);
      throw error;
    }
    if (!this.healthy) {
      this.healthy = true;
      this.observer.stateChanged(true);
    }
    return "store";
  }

  async sync(): Promise<void> {
    await this.policy.flush();
  }

  async close(): Promise<void> {
    this.policy.stop();
    try {
      await this.policy.flush();
    } finally {
      await this.segment?.close().catch(() => undefined);
      await this.checkpoints?.close().catch(() => undefined);
      this.segment = undefined;
      this.checkpoints = undefined;
    }
  }

  private async segmentFor(firstSeq: number): Promise<AppendFile> {
    const current = this.segment;
    if (
      current &&
      current.size < this.config.rotateSize &&
      Date.now() - this.segmentOpenedAt < this.config.rotateAge
    ) {
      return current;
    }
    if (current) {
      await current.sync();
      await current.close();
      this.segment = undefined;
    }
    const path = join(this.config.dir, segmentName(this.writer, firstSeq));
    let opened: AppendFile;
    try {
      opened = await AppendFile.open(path, true);
    } catch (error) {
      // A segment whose only write failed (and was cut back to empty) gets the same name when the
      // batch is retried; any other existing file is not ours to append to.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      opened = await AppendFile.open(path, false);
      if (opened.size !== 0) {
        await opened.close();
        throw error;
      }
    }
    this.segment = opened;
    this.segmentOpenedAt = Date.now();
    return opened;
  }

  private async syncFiles(): Promise<void> {
    await this.segment?.sync();
    await this.checkpoints?.sync();
  }

  private async fail(error: unknown): Promise<void> {
    // Start a fresh segment on the next write: the failing one is closed as it is.
    const segment = this.segment;
    this.segment = undefined;
    await segment?.close().catch(() => undefined);
    const checkpoints = this.checkpoints;
    this.checkpoints = undefined;
    await checkpoints?.close().catch(() => undefined);
    if (this.healthy) {
      this.healthy = false;
      this.observer.stateChanged(false, (error as NodeJS.ErrnoException).code ?? (error as Error).message);
    }
  }
}
