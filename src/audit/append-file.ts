/**
 * An append-only file opened for one writer: created exclusively with mode 0600 (audit records
 * are personal data), its directory entry fsynced on creation so the file itself survives a power
 * loss, and each write either lands whole or is cut back (ftruncate to the size before it), so a
 * failed write never leaves half a line for the next one to follow.
 */
import { constants, type FileHandle, open } from "node:fs/promises";
import { dirname } from "node:path";

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class AppendFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private bytes: number,
  ) {}

  /** Opens for appending; `exclusive` refuses an existing file (a new segment must be new). */
  static async open(path: string, exclusive: boolean): Promise<AppendFile> {
    const flags =
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (exclusive ? constants.O_EXCL : 0);
    const handle = await open(path, flags, 0o600);
    try {
      const { size } = await handle.stat();
      await fsyncDirectory(dirname(path));
      return new AppendFile(path, handle, size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  get size(): number {
    return this.bytes;
  }

  async append(data: Buffer): Promise<void> {
    const before = this.bytes;
    try {
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await this.handle.write(data, offset, data.length - offset);
        offset += bytesWritten;
      }
      this.bytes = before + data.length;
    } catch (error) {
      // Leave no partial line behind (ENOSPC after a short write, EIO).
      await this.handle.truncate(before).catch(() => undefined);
      throw error;
    }
  }

  /** fdatasync: the data and the file size, which is all a reader needs. */
  async sync(): Promise<void> {
    await this.handle.datasync();
  }

  async truncate(size: number): Promise<void> {
    await this.handle.truncate(size);
    this.bytes = size;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
