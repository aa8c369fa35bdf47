import assert from "node:assert/strict";
import { test } from "node:test";
import { isBulwarkError } from "../../../src/errors.js";
import { buildPlan, DEFAULT_CONNECTIONS, type LoadInput } from "../../../src/load/plan.js";

function usageError(input: LoadInput, pattern: RegExp): void {
  assert.throws(
    () => buildPlan(input),
    (error: unknown) => isBulwarkError(error) && error.code === "usage" && pattern.test(error.message),
  );
}

test("an open-model plan with defaults", () => {
  const plan = buildPlan({ target: "http://127.0.0.1:8080/api?x=1", rate: "250", duration: "30s" });
  assert.deepEqual(plan.executor, {
    kind: "constant-arrival-rate",
    rate: 250,
    durationMs: 30_000,
    connections: DEFAULT_CONNECTIONS,
    maxQueue: 500,
  });
  assert.equal(plan.request.origin, "http://127.0.0.1:8080");
  assert.equal(plan.request.path, "/api?x=1");
  assert.equal(plan.request.method, "GET");
  assert.equal(plan.timeoutMs, 30_000);
  assert.ok(Object.isFrozen(plan));
});

test("a closed-model plan, method, headers, body", () => {
  const plan = buildPlan({
    target: "https://example.test/login",
    vus: "10",
    duration: "1m",
    method: "post",
    headers: ["Content-Type: application/json", "X-Trace:  a:b "],
    body: "{}",
    timeout: "5s",
  });
  assert.deepEqual(plan.executor, { kind: "constant-vus", vus: 10, durationMs: 60_000 });
  assert.equal(plan.request.method, "POST");
  assert.deepEqual(plan.request.headers, { "content-type": "application/json", "x-trace": "a:b" });
  assert.equal(plan.request.body, "{}");
  assert.equal(plan.timeoutMs, 5000);
});

test("credentials in the URL become a Basic header and stay out of reports", () => {
  const plan = buildPlan({ target: "http://user:s3cret@127.0.0.1:9000/", rate: "1", duration: "1s" });
  assert.equal(plan.request.displayUrl, "http://127.0.0.1:9000/");
  assert.equal(plan.request.headers.authorization, `Basic ${Buffer.from("user:s3cret").toString("base64")}`);
});

test("refuses a run without a bound, and bad input, with a clear message", () => {
  const url = "http://127.0.0.1:8080/";
  usageError({ target: url, rate: "10" }, /give --duration/);
  usageError({ target: url, rate: "10", duration: "10" }, /--duration: expected a duration/);
  usageError({ target: url, rate: "10", duration: "0s" }, /--duration/);
  usageError({ target: undefined, rate: "10", duration: "1s" }, /give the target URL/);
  usageError({ target: "localhost:80", rate: "10", duration: "1s" }, /only http and https/);
  usageError({ target: "http://", rate: "10", duration: "1s" }, /invalid target URL/);
  usageError(
    { target: "missing-scenario.yaml" },
    /cannot read scenario file missing-scenario.yaml \(ENOENT\)/,
  );
  usageError({ target: url, duration: "1s" }, /give --rate N/);
  usageError({ target: url, rate: "10", vus: "2", duration: "1s" }, /not both/);
  usageError({ target: url, rate: "-5", duration: "1s" }, /--rate: expected a positive number/);
  usageError({ target: url, rate: "0", duration: "1s" }, /--rate/);
  usageError({ target: url, vus: "1.5", duration: "1s" }, /--vus: expected a positive whole number/);
  usageError({ target: url, vus: "2", connections: "4", duration: "1s" }, /--connections applies to --rate/);
  usageError({ target: url, rate: "10", connections: "0", duration: "1s" }, /--connections/);
  usageError({ target: url, rate: "10", duration: "1s", headers: ["NoColon"] }, /--header/);
  usageError({ target: url, rate: "10", duration: "1s", method: "GE T" }, /--method/);
  usageError({ target: url, rate: "10", duration: "1s", timeout: "never" }, /--timeout/);
  usageError(
    { target: url, rate: "10", duration: "1s", thresholds: ["p(95)<"] },
    /invalid threshold "p\(95\)<"/,
  );
});
