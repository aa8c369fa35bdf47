import assert from "node:assert/strict";
import { test } from "node:test";
import { createRedactor, REDACTED } from "../../../src/observability/redact.js";

test("secret-like query parameters are redacted; others are kept", () => {
  const redactor = createRedactor();
  const out = redactor.query(
    "?page=2&access_token=abc&password=p&api_key=k&apikey=k2&code=c&sig=s&q=hello&client_secret=cs&session_id=z",
  );
  assert.ok(out.includes("page=2"));
  assert.ok(out.includes("q=hello"));
  for (const secret of ["abc", "=p&", "=k&", "k2", "=c&", "=s&", "cs", "=z"])
    assert.ok(!out.includes(secret), `${secret} leaked in ${out}`);
  assert.equal(out.split(REDACTED).length - 1, 8);
});

test("configured names are redacted too, in queries and headers", () => {
  const redactor = createRedactor(["x-tenant-secret", "pin"]);
  assert.equal(redactor.query("?pin=1234&a=b"), `?pin=${REDACTED}&a=b`);
  assert.equal(redactor.header("X-Tenant-Secret", "v"), REDACTED);
  assert.equal(redactor.header("authorization", "Bearer x"), REDACTED);
  assert.equal(redactor.header("accept", "text/html"), "text/html");
});

test("URLs lose userinfo and secret query values", () => {
  const redactor = createRedactor();
  assert.equal(
    redactor.url("https://user:pw@example.com/cb?token=t&x=1"),
    `https://${REDACTED}@example.com/cb?token=${REDACTED}&x=1`,
  );
});
