import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { isS3Location, parseS3Location, resolveS3Settings } from "../../../src/backup/s3-settings.js";
import { BulwarkError } from "../../../src/errors.js";

const KEYS = { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret-from-env" };

describe("S3 repository settings", () => {
  it("parses s3://bucket/prefix and refuses what S3 or the shell would not take", () => {
    assert.deepEqual(parseS3Location("s3://acme-backups/bulwark/prod/"), {
      bucket: "acme-backups",
      prefix: "bulwark/prod",
    });
    assert.deepEqual(parseS3Location("s3://acme.backups"), { bucket: "acme.backups", prefix: "" });
    assert.ok(isS3Location("S3://x") && !isS3Location("/var/backups/s3://x"));
    for (const [location, pattern] of [
      ["s3://", /bucket name/],
      ["s3://Acme/x", /bucket name/],
      ["s3://ab/x", /bucket name/],
      ["s3://acme/a//b", /prefix/],
      ["s3://acme/../etc", /prefix/],
      ["s3://acme/it's $(rm -rf)", /prefix/],
    ] as const) {
      assert.throws(
        () => parseS3Location(location),
        (error: BulwarkError) =>
          error.code === "usage" &&
          pattern.test(error.message) &&
          /expected s3:\/\/BUCKET\/PREFIX/.test(error.message),
        location,
      );
    }
  });

  it("takes settings from the config first, then the AWS variables, with defaults", () => {
    const fromEnv = resolveS3Settings("s3://acme/p", undefined, {
      ...KEYS,
      AWS_SESSION_TOKEN: "tok",
      AWS_REGION: "eu-central-1",
      AWS_ENDPOINT_URL: "http://127.0.0.1:9000/",
    });
    assert.deepEqual(fromEnv, {
      bucket: "acme",
      prefix: "p",
      endpoint: "http://127.0.0.1:9000",
      region: "eu-central-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret-from-env", sessionToken: "tok" },
      partSize: 16 * 1024 * 1024,
    });
    const aws = resolveS3Settings(
      "s3://acme",
      { accessKeyId: "A", secretAccessKey: "B", partSizeMiB: 64 },
      KEYS,
    );
    assert.equal(aws.endpoint, undefined);
    assert.equal(aws.region, "us-east-1");
    assert.equal(aws.forcePathStyle, false, "AWS itself: virtual-hosted style");
    assert.deepEqual(aws.credentials, { accessKeyId: "A", secretAccessKey: "B" });
    assert.equal(aws.partSize, 64 * 1024 * 1024);
    assert.equal(
      resolveS3Settings("s3://acme", { endpoint: "https://s3.example", forcePathStyle: false }, KEYS)
        .forcePathStyle,
      false,
    );
  });

  it("refuses missing credentials and a bad endpoint variable, printing no secret", () => {
    assert.throws(
      () =>
        resolveS3Settings("s3://acme/p", undefined, { AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "" }),
      (error: BulwarkError) =>
        error.code === "usage" &&
        /no S3 credentials for s3:\/\/acme\/p: set AWS_ACCESS_KEY_ID/.test(error.message),
    );
    assert.throws(
      () => resolveS3Settings("s3://acme/p", undefined, { ...KEYS, AWS_ENDPOINT_URL: "minio:9000" }),
      (error: BulwarkError) =>
        error.code === "usage" &&
        /AWS_ENDPOINT_URL/.test(error.message) &&
        !error.message.includes("secret-from-env"),
    );
  });

  it("survives random locations: a usage error or a parse, never a crash (fuzz, 2 s)", () => {
    const alphabet = "s3:/abcXYZ019.-_*'()!$ %\u0000\u00e9";
    const deadline = Date.now() + 2000;
    let runs = 0;
    while (Date.now() < deadline) {
      const length = randomBytes(1)[0]! % 40;
      const bytes = randomBytes(length);
      let text = runs % 2 === 0 ? "s3://" : "";
      for (const byte of bytes) text += alphabet[byte % alphabet.length];
      try {
        const parsed = parseS3Location(text);
        assert.match(parsed.bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
        assert.ok(!parsed.prefix.startsWith("/") && !parsed.prefix.endsWith("/"));
      } catch (error) {
        assert.ok(error instanceof BulwarkError && error.code === "usage", String(error));
      }
      runs++;
    }
    assert.ok(runs > 1000);
  });
});
