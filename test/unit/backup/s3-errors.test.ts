/**
 * How S3 and socket failures are reported: a stable code per cause, the endpoint and the
 * location named, what to check next, and never a credential.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { s3Error } from "../../../src/backup/s3-object-store.js";
import { resolveS3Settings } from "../../../src/backup/s3-settings.js";
import { BulwarkError } from "../../../src/errors.js";

const settings = resolveS3Settings("s3://acme/prod", undefined, {
  AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "very-secret-value",
  AWS_REGION: "eu-west-1",
});

function mapped(error: unknown): BulwarkError {
  const result = s3Error(error, settings, "s3://acme/prod", "list");
  assert.ok(result instanceof BulwarkError);
  assert.ok(!JSON.stringify([result.message, result.details]).includes("very-secret-value"));
  return result;
}

describe("S3 error mapping", () => {
  it("names each cause with its own code", () => {
    const sdk = (name: string, status: number) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    for (const name of ["SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "AccessDenied"]) {
      const error = mapped(sdk(name, 403));
      assert.equal(error.code, "backup_repo_denied", name);
      assert.match(
        error.message,
        new RegExp(`access to s3://acme/prod at AWS S3 \\(eu-west-1\\) was denied \\(${name}\\)`),
      );
      assert.match(error.details.join(" "), /s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject/);
    }
    assert.equal(mapped(sdk("NoSuchBucket", 404)).code, "backup_repo_missing");
    const moved = mapped(sdk("PermanentRedirect", 301));
    assert.equal(moved.code, "backup_repo_unreachable");
    assert.match(moved.details.join(" "), /backup\.s3\.region/);
    const other = mapped(sdk("SlowDown", 503));
    assert.equal(other.code, "backup_failed");
    assert.match(other.message, /cannot list s3:\/\/acme\/prod: SlowDown \(HTTP 503\)/);
  });

  it("reports socket failures, including Node's AggregateError from trying every address", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    assert.equal(mapped(refused).code, "backup_repo_unreachable");
    const aggregate = Object.assign(
      new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })]),
      {
        errors: [{ code: "ECONNREFUSED" }],
      },
    );
    const error = mapped(aggregate);
    assert.equal(error.code, "backup_repo_unreachable");
    assert.match(
      error.message,
      /cannot reach the S3 endpoint AWS S3 \(eu-west-1\) to list s3:\/\/acme\/prod \(ECONNREFUSED\)/,
    );
    assert.equal(
      mapped(Object.assign(new Error("t"), { name: "TimeoutError" })).code,
      "backup_repo_unreachable",
    );
  });

  it("passes Bulwark's own errors through unchanged", () => {
    const own = new BulwarkError("backup_corrupt", "x");
    assert.equal(s3Error(own, settings, "s3://acme/prod", "read"), own);
  });
});
