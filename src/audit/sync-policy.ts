/**
 * When written records reach stable storage, and when a write is acknowledged.
 *
 * - `record`: every write is followed by an fsync (fdatasync) before it is acknowledged. Records
 *   that arrive while an fsync runs wait in the trail's queue and go out together in the next
 *   write, so concurrent records share one fsync (group commit). An acknowledged record survives
 *   a process crash and a power loss.
 * - `batch`: a write is acknowledged once it is in the file (the kernel's page cache), and an
 *   fsync runs at most every `intervalMs`. An acknowledged record survives a process crash
 *   (SIGKILL, OOM kill); a power loss or kernel crash can lose the last `intervalMs` of records.
 */
export class SyncPolicy {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    readonly mode: "record" | "batch",
    private readonly intervalMs: number,
    private readonly syncNow: () => Promise<void>,
  ) {}

  /** Call after each write; resolves when the write may be acknowledged. */
  async afterWrite(): Promise<void> {
    if (this.mode === "record") {
      await this.syncNow();
      return;
    }
    this.dirty = true;
    this.arm();
  }

  /** Syncs now if anything is unsynced (flush, close, before a checkpoint is written). */
  async flush(): Promise<void> {
    if (this.running) await this.running;
    if (this.dirty) await this.tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick().catch(() => undefined);
    }, this.intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.dirty = false;
    const run = this.syncNow();
    this.running = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      await run;
    } catch (error) {
      this.dirty = true;
      throw error;
    } finally {
      this.running = undefined;
    }
  }
}
