/**
 * Where an S3 repository is and how to reach it: `s3://bucket/prefix` plus the `backup.s3`
 * settings, each falling back to the variables every AWS tool reads (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL). Credentials are never a flag (argv is world-readable in /proc) and never
 * printed. Bulwark does not walk the SDK's whole credential chain (profiles, SSO, instance
 * metadata): a missing credential is an error that says what to set, not a 30-second wait for an
 * instance metadata service that is not there.
 */
import { BulwarkError } from "../errors.js";
import type { S3Section } from "./config-schema.js";

export interface S3Settings {
  readonly bucket: string;
  /** Key prefix without leading or trailing "/"; "" for the bucket's root. */
  readonly prefix: string;
  /** undefined: AWS S3 in `region`. */
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly credentials: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  readonly partSize: number;
}

export const DEFAULT_PART_SIZE_MIB = 16;

export function isS3Location(location: string): boolean {
  return /^s3:\/\//i.test(location);
}

/**
 * Bucket names as S3 accepts them for new buckets (3–63 lowercase letters, digits, dots and
 * hyphens, starting and ending with a letter or digit: "Bucket naming rules", S3 user guide).
 */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;

export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(location);
  const bucket = match?.[1] ?? "";
  const usage = (what: string) =>
    new BulwarkError(
      "usage",
      `${JSON.stringify(location)} is not a usable S3 repository: ${what}; expected s3://BUCKET/PREFIX, such as s3://acme-backups/bulwark/prod`,
    );
  if (!BUCKET.test(bucket))
    throw usage("the bucket name must be 3-63 lowercase letters, digits, dots or hyphens");
  const prefix = (match?.[2] ?? "").replace(/^\/+|\/+$/g, "");
  // Safe characters only (S3 "Object key naming guidelines"): the prefix becomes part of every
  // key, and of the restore_command PostgreSQL runs through the shell.
  if (
    prefix !== "" &&
    !prefix.split("/").every((segment) => PREFIX_SEGMENT.test(segment) && segment !== "..")
  ) {
    throw usage("the prefix may hold letters, digits and !_.*'()- between single slashes");
  }
  return { bucket, prefix };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export function resolveS3Settings(
  location: string,
  section: S3Section | undefined,
  env: NodeJS.ProcessEnv = process.env,
): S3Settings {
  const { bucket, prefix } = parseS3Location(location);
  const accessKeyId = section?.accessKeyId ?? nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = section?.secretAccessKey ?? nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = section?.sessionToken ?? nonEmpty(env.AWS_SESSION_TOKEN);
  if (!accessKeyId || !secretAccessKey) {
    throw new BulwarkError(
      "usage",
      `no S3 credentials for ${location}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or backup.s3.accessKeyId and backup.s3.secretAccessKey: \${file:…} in -c FILE`,
    );
  }
  const endpoint = (
    section?.endpoint ??
    nonEmpty(env.AWS_ENDPOINT_URL_S3) ??
    nonEmpty(env.AWS_ENDPOINT_URL)
  )?.replace(/\/+$/, "");
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+$/.test(endpoint)) {
    throw new BulwarkError(
      "usage",
      `the S3 endpoint ${JSON.stringify(endpoint)} is not an http:// or https:// URL without a path; check AWS_ENDPOINT_URL or backup.s3.endpoint`,
    );
  }
  return {
    bucket,
    prefix,
    endpoint,
    region: section?.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? "us-east-1",
    // S3-compatible servers (MinIO, Ceph RGW, s3rver) serve path-style URLs out of the box;
    // virtual-hosted style needs wildcard DNS for the bucket names.
    forcePathStyle: section?.forcePathStyle ?? endpoint !== undefined,
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    partSize: (section?.partSizeMiB ?? DEFAULT_PART_SIZE_MIB) * 1024 * 1024,
  };
}
