/**
 * An object store in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, …), through the AWS SDK
 * v3. Small objects are one PUT, which S3 makes visible whole or not at all. Artifacts stream
 * through a multipart upload (lib-storage's Upload): the object appears only when
 * CompleteMultipartUpload succeeds, which happens only after the stream ended normally; a stream
 * that fails is destroyed with its error and the upload aborted, so a failed or truncated
 * upload never becomes an object. A killed process leaves an unfinished multipart upload, which
 * is invisible to listings and GETs (remove its parts with a lifecycle rule:
 * AbortIncompleteMultipartUpload; docs/disaster-recovery.md).
 */
import { PassThrough, Readable, Writable } from "node:stream";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { BulwarkError, isBulwarkError } from "../errors.js";
import type { ObjectStore, StoredObject } from "./object-store.js";
import type { S3Settings } from "./s3-settings.js";

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);
const DENIED = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "AllAccessDisabled",
]);

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  errors?: { code?: string }[];
  $metadata?: { httpStatusCode?: number };
}

/** Turns SDK and socket errors into errors that say what failed, where, and how to fix it. */
export function s3Error(error: unknown, settings: S3Settings, location: string, action: string): unknown {
  if (isBulwarkError(error)) return error;
  const sdk = (error ?? {}) as SdkError;
  const endpoint = settings.endpoint ?? `AWS S3 (${settings.region})`;
  const name = sdk.Code ?? sdk.name ?? "";
  const status = sdk.$metadata?.httpStatusCode;
  // Node 20 tries every address of a host (happy eyeballs) and reports an AggregateError.
  const code = sdk.code ?? sdk.errors?.find((inner) => inner.code)?.code;
  if ((code && NETWORK_CODES.has(code)) || name === "TimeoutError") {
    return new BulwarkError(
      "backup_repo_unreachable",
      `cannot reach the S3 endpoint ${endpoint} to ${action} ${location} (${code ?? name})`,
      {
        details: [
          "check backup.s3.endpoint (or AWS_ENDPOINT_URL), the network, and that the store is running",
        ],
      },
    );
  }
  if (name === "NoSuchBucket") {
    return new BulwarkError(
      "backup_repo_missing",
      `the bucket ${settings.bucket} does not exist at ${endpoint} (${location})`,
      {
        details: [
          "create the bucket (with versioning or object lock for off-site copies), or fix the bucket in --repo / backup.repo and the endpoint and region",
        ],
      },
    );
  }
  if (DENIED.has(name) || status === 403) {
    return new BulwarkError(
      "backup_repo_denied",
      `access to ${location} at ${endpoint} was denied (${name || `HTTP ${status}`}) while trying to ${action}`,
      {
        details: [
          "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or backup.s3.accessKeyId / secretAccessKey) and that their policy allows s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on the bucket and prefix (docs/disaster-recovery.md#s3-compatible-repositories)",
        ],
      },
    );
  }
  if (name === "PermanentRedirect" || name === "AuthorizationHeaderMalformed" || status === 301) {
    return new BulwarkError(
      "backup_repo_unreachable",
      `the bucket ${settings.bucket} is not in region ${settings.region} (${name || `HTTP ${status}`})`,
      { details: ["set backup.s3.region (or AWS_REGION) to the bucket's region"] },
    );
  }
  const message = sdk.message ?? String(error);
  return new BulwarkError(
    "backup_failed",
    `cannot ${action} ${location}: ${name ? `${name} ` : ""}${status ? `(HTTP ${status}) ` : ""}${message}`,
  );
}

function missingKey(error: unknown): boolean {
  const sdk = error as SdkError;
  return (
    sdk.name === "NoSuchKey" ||
    sdk.name === "NotFound" ||
    (sdk.$metadata?.httpStatusCode === 404 && sdk.name !== "NoSuchBucket")
  );
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly settings: S3Settings;

  constructor(settings: S3Settings, client?: S3Client) {
    this.settings = settings;
    this.location = `s3://${settings.bucket}${settings.prefix ? `/${settings.prefix}` : ""}`;
    // The SDK warns on every run that its releases from 2027 need Node 22; this version is
    // pinned (package.json), so the warning only adds noise to cron mail and journald.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    this.client =
      client ??
      new S3Client({
        region: settings.region,
        ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
        forcePathStyle: settings.forcePathStyle,
        credentials: settings.credentials,
        // Checksums only where S3 requires them: the artifacts carry their own SHA-256 and AES-GCM
        // tags, and many S3-compatible stores reject the flexible checksums (CRC32 trailers in
        // aws-chunked bodies) that SDK releases since early 2025 send by default.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 3,
        // No request (socket idle) timeout: a download feeding pg_restore pauses while pg_restore
        // builds an index; a connection timeout stops a dead endpoint from hanging a backup.
        requestHandler: { connectionTimeout: 10_000 },
      });
  }

  private key(key: string): string {
    return this.settings.prefix ? `${this.settings.prefix}/${key}` : key;
  }

  private fail(error: unknown, action: string, key?: string): unknown {
    return s3Error(error, this.settings, key ? `${this.location}/${key}` : this.location, action);
  }

  child(prefix: string): ObjectStore {
    return new S3ObjectStore({ ...this.settings, prefix: this.key(prefix.replace(/\/+$/, "")) }, this.client);
  }

  async put(key: string, content: Buffer | string): Promise<void> {
    const body = typeof content === "string" ? Buffer.from(content) : content;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.key(key),
          Body: body,
          ContentLength: body.length,
        }),
      );
    } catch (error) {
      throw this.fail(error, "write", key);
    }
  }

  createWriteStream(key: string): Writable {
    // The SDK reads the body as a stream of unknown length and cuts it into parts; one part
    // (< partSize) becomes a single PUT.
    let waiting: (() => void) | undefined;
    const body = new Readable({
      highWaterMark: 1024 * 1024,
      read() {
        const next = waiting;
        waiting = undefined;
        next?.();
      },
    });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.settings.bucket, Key: this.key(key), Body: body },
      partSize: this.settings.partSize,
      queueSize: 4,
      leavePartsOnError: false,
    });
    let failure: unknown;
    let finished = false;
    const done = upload.done().then(
      () => {
        finished = true;
      },
      (error: unknown) => {
        failure = this.fail(error, "upload", key);
        writable.destroy(failure as Error);
        throw failure;
      },
    );
    // Whoever fails first: the upload (destroys the writable above) or the writer (below).
    done.catch(() => {});
    const writable = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        if (failure) return callback(failure as Error);
        // The part queue pulls from `body`; wait for it before taking more (backpressure).
        if (body.push(chunk)) callback();
        else waiting = callback;
      },
      final(callback) {
        body.push(null);
        done.then(
          () => callback(),
          (error: Error) => callback(error),
        );
      },
      destroy(error, callback) {
        if (finished) return callback(error);
        // Never end the body here: an ended body would complete the upload with what it has. A
        // destroyed body fails the part uploads, and lib-storage then sends
        // AbortMultipartUpload; waiting for that keeps the parts from outliving a failed backup.
        body.destroy(error ?? new Error("upload cancelled"));
        done.then(
          () => callback(error),
          () => callback(error),
        );
      },
    });
    return writable;
  }

  async get(key: string): Promise<Buffer | null> {
    const stream = await this.open(key);
    if (!stream) return null;
    const parts: Buffer[] = [];
    try {
      for await (const part of stream) parts.push(part as Buffer);
    } catch (error) {
      throw this.fail(error, "read", key);
    }
    return Buffer.concat(parts);
  }

  async open(key: string): Promise<Readable | null> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key) }),
      );
      // A connection lost mid-download fails the reader with an error that names the store;
      // a reader that stops early (a failed pg_restore) releases the connection.
      const body = response.Body as Readable;
      const out = new PassThrough({ highWaterMark: 1024 * 1024 });
      body.once("error", (error) => out.destroy(this.fail(error, "read", key) as Error));
      out.once("close", () => body.destroy());
      body.pipe(out);
      return out;
    } catch (error) {
      if (missingKey(error)) return null;
      throw this.fail(error, "read", key);
    }
  }

  private async *pages(prefix: string, delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.settings.bucket,
            Prefix: prefix,
            ...(delimiter ? { Delimiter: delimiter } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (error) {
        throw this.fail(error, "list");
      }
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const base = this.settings.prefix ? `${this.settings.prefix}/` : "";
    const out: StoredObject[] = [];
    for await (const page of this.pages(`${base}${prefix}`)) {
      for (const object of page.Contents ?? []) {
        if (!object.Key?.startsWith(base)) continue;
        out.push({
          key: object.Key.slice(base.length),
          size: object.Size ?? 0,
          modified: object.LastModified ?? new Date(0),
        });
      }
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listChildren(): Promise<string[]> {
    const base = this.settings.prefix ? `${this.settings.prefix}/` : "";
    const out: string[] = [];
    for await (const page of this.pages(base, "/")) {
      for (const common of page.CommonPrefixes ?? []) {
        const name = common.Prefix?.slice(base.length).replace(/\/$/, "");
        if (name) out.push(name);
      }
    }
    return out.sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes at most 1000 keys (S3 API reference).
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      let errors: { Key?: string; Code?: string }[] | undefined;
      try {
        const result = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.settings.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.key(key) })), Quiet: true },
          }),
        );
        errors = result.Errors;
      } catch (error) {
        throw this.fail(error, "delete from");
      }
      const first = errors?.find((entry) => entry.Code !== "NoSuchKey");
      if (first) {
        throw this.fail({ name: first.Code, message: `cannot delete ${first.Key}` }, "delete from");
      }
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    const normalized = `${prefix.replace(/\/+$/, "")}/`;
    const keys = (await this.list(normalized)).map((object) => object.key);
    await this.delete(keys);
  }
}
