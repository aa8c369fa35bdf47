/**
 * Streams a request body to the upstream while enforcing the route's size limit (chunked bodies
 * included, since their length is only known at the end) and the body idle timeout. Never
 * buffers: bytes pass through as they arrive, with the stream's own backpressure.
 */
import { Transform, type TransformCallback } from "node:stream";
import { formatSize } from "../../config/units.js";
import { BulwarkError } from "../../errors.js";

export class BodyGuard extends Transform {
  bytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly idleMs: number,
  ) {
    super();
    this.armTimer();
  }

  private armTimer(): void {
    if (this.idleMs <= 0) return;
    this.timer = setTimeout(() => {
      this.destroy(
        new BulwarkError("request_timeout", "the request body stalled", {
          details: [`no body bytes for ${this.idleMs} ms`],
        }),
      );
    }, this.idleMs);
    this.timer.unref();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      clearTimeout(this.timer);
      callback(
        new BulwarkError("body_too_large", `the body limit on this route is ${formatSize(this.maxBytes)}`),
      );
      return;
    }
    this.timer?.refresh();
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    clearTimeout(this.timer);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    clearTimeout(this.timer);
    callback(error);
  }
}
