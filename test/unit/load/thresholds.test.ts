import assert from "node:assert/strict";
import { test } from "node:test";
import { isBulwarkError } from "../../../src/errors.js";
import { evaluateThreshold, parseThreshold, type ThresholdInputs } from "../../../src/load/thresholds.js";

const inputs: ThresholdInputs = {
  latency: {
    maxMs: () => 900,
    percentileMs: (percentile) => (percentile >= 99 ? 450 : percentile >= 95 ? 180 : 20),
  },
  // Service time: what the target took once the request was sent (less than corrected latency).
  serviceTime: { maxMs: () => 300, percentileMs: (percentile) => (percentile >= 95 ? 90 : 10) },
  errorRate: 0.0005,
  rps: 99.5,
  dropped: 0,
};

test("parses each metric with its unit into a bound in the metric's unit", () => {
  assert.deepEqual(parseThreshold("p(95)<200ms"), {
    expression: "p(95)<200ms",
    metric: { kind: "percentile", percentile: 95 },
    operator: "<",
    bound: 200,
  });
  assert.equal(parseThreshold("p(99.9) <= 1s").bound, 1000);
  assert.equal(parseThreshold("p(50)<500us").bound, 0.5);
  assert.equal(parseThreshold("p(50)<250").bound, 250);
  assert.equal(parseThreshold("max<2s").bound, 2000);
  assert.equal(parseThreshold("error_rate<0.1%").bound, 0.001);
  assert.equal(parseThreshold("error_rate<0.01").bound, 0.01);
  assert.equal(parseThreshold("rps>50").bound, 50);
  assert.deepEqual(parseThreshold("dropped==0").metric, { kind: "dropped" });
});

test("invalid thresholds are usage errors naming the expression", () => {
  for (const bad of [
    "p95<200ms",
    "p(0)<1s",
    "p(101)<1s",
    "p(95)<fast",
    "latency<1s",
    "rps=>5",
    "error_rate<200%",
    "rps>",
    "",
  ]) {
    assert.throws(
      () => parseThreshold(bad),
      (error: unknown) =>
        isBulwarkError(error) && error.code === "usage" && error.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test("evaluates against the summary and reports the actual value", () => {
  const check = (expression: string) => evaluateThreshold(parseThreshold(expression), inputs);
  assert.deepEqual(check("p(95)<200ms"), { expression: "p(95)<200ms", ok: true, actual: 180 });
  assert.equal(check("p(99)<400ms").ok, false);
  assert.equal(check("max<1s").ok, true);
  assert.equal(check("error_rate<0.1%").ok, true);
  assert.equal(check("error_rate<0.01%").ok, false);
  assert.equal(check("rps>50").ok, true);
  assert.equal(check("rps>=100").ok, false);
  assert.equal(check("dropped==0").ok, true);
  assert.equal(check("dropped!=0").ok, false);
});

test("a threshold with nothing to measure fails (fail closed)", () => {
  const empty: ThresholdInputs = {
    ...inputs,
    latency: { maxMs: () => null, percentileMs: () => null },
    serviceTime: null,
    errorRate: null,
  };
  assert.deepEqual(evaluateThreshold(parseThreshold("p(95)<1s"), empty), {
    expression: "p(95)<1s",
    ok: false,
    actual: null,
  });
  assert.equal(evaluateThreshold(parseThreshold("error_rate<1%"), empty).ok, false);
});

test("service_p(N) and service_max read service time; whole-run only", () => {
  const check = (expression: string) => evaluateThreshold(parseThreshold(expression), inputs);
  assert.deepEqual(parseThreshold("service_p(95)<100ms").metric, {
    kind: "percentile",
    percentile: 95,
    service: true,
  });
  assert.deepEqual(parseThreshold("login: service_max<=2s").metric, { kind: "max", service: true });
  assert.equal(check("service_p(95)<100ms").ok, true, "90 ms of service time");
  assert.equal(check("p(95)<100ms").ok, false, "180 ms from the intended send time");
  assert.equal(check("service_max<250ms").actual, 300);
  assert.throws(
    () => parseThreshold("service_p(99)<1s over 30s"),
    /service_p\(99\) is evaluated over the whole run; remove "over 30s"/,
  );
  assert.throws(
    () => parseThreshold("service_rps>5"),
    /METRIC one of p\(N\), max, service_p\(N\), service_max/,
  );
  // Where service time is not kept (sliding windows), a service threshold has nothing to measure.
  assert.equal(
    evaluateThreshold(parseThreshold("service_max<1s"), { ...inputs, serviceTime: null }).ok,
    false,
  );
});

test("drifting counts the drifting series, judged once the run is over", () => {
  assert.deepEqual(parseThreshold("drifting==0").metric, { kind: "drifting" });
  assert.equal(evaluateThreshold(parseThreshold("drifting==0"), { ...inputs, drifting: 0 }).ok, true);
  const leak = evaluateThreshold(parseThreshold("drifting==0"), { ...inputs, drifting: 2 });
  assert.deepEqual([leak.ok, leak.actual], [false, 2]);
  assert.equal(evaluateThreshold(parseThreshold("drifting<1"), inputs).ok, false, "unknown: fail closed");
  assert.throws(
    () => parseThreshold("login: drifting==0"),
    /drifting is judged on the whole run; remove the NAME: prefix/,
  );
  assert.throws(() => parseThreshold("drifting==0 over 1m"), /remove "over 1m"/);
  assert.throws(() => parseThreshold("drifting==0 abortOnFail"), /abortOnFail cannot stop it earlier/);
});

test("NAME: scopes, over WINDOW and abortOnFail", () => {
  const full = parseThreshold("login: p(95)<300ms over 30s abortOnFail");
  assert.equal(full.scope, "login");
  assert.equal(full.windowMs, 30_000);
  assert.equal(full.abortOnFail, true);
  assert.equal(full.bound, 300);
  assert.deepEqual(full.metric, { kind: "percentile", percentile: 95 });
  assert.equal(parseThreshold("error_rate<1% over 1m").windowMs, 60_000);
  assert.equal(parseThreshold("error_rate<1% over 1m").abortOnFail, undefined);
  assert.equal(parseThreshold("rps>10 abortOnFail").abortOnFail, true);
  assert.equal(parseThreshold("api.v2-get: rps>10").scope, "api.v2-get");
  for (const bad of [
    "login: dropped==0",
    "p(95)<200ms over",
    "p(95)<200ms over fast",
    "p(95)<200ms over 0s",
    "p(95)<200ms abortonfail",
    "bad name: p(95)<1s",
    ": p(95)<1s",
  ]) {
    assert.throws(
      () => parseThreshold(bad),
      (error: unknown) => isBulwarkError(error) && error.code === "usage",
      bad,
    );
  }
});

test("fuzz: random threshold text is parsed or refused with a usage error, never a crash", () => {
  const alphabet = [
    "p(",
    ")",
    "95",
    "<",
    ">",
    "=",
    "!",
    "ms",
    "s",
    "%",
    " over ",
    " abortOnFail",
    "login:",
    ":",
    " ",
    "max",
    "error_rate",
    "rps",
    "dropped",
    "0.1",
    "1e3",
    "\u0000",
    "é",
  ];
  const deadline = Date.now() + 2000;
  let parsed = 0;
  while (Date.now() < deadline) {
    const length = 1 + Math.floor(Math.random() * 8);
    let text = "";
    for (let i = 0; i < length; i++) text += alphabet[Math.floor(Math.random() * alphabet.length)];
    try {
      const threshold = parseThreshold(text);
      assert.ok(Number.isFinite(threshold.bound));
      parsed++;
    } catch (error) {
      assert.ok(isBulwarkError(error) && error.code === "usage", `${JSON.stringify(text)}: ${error}`);
    }
  }
  assert.ok(parsed >= 0);
});
