/**
 * Pure scenario pieces: stage interpolation and the ramping arrival schedule, templates, CSV and
 * JSON data, JSON-path extraction, and scenario parsing details.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfigError } from "../../../src/config/config-error.js";
import { parseCsv, parseJsonRows } from "../../../src/load/data-file.js";
import { extract } from "../../../src/load/iteration.js";
import { buildPlan } from "../../../src/load/plan.js";
import { parseJsonPath, parseScenario } from "../../../src/load/scenario.js";
import { arrivalSchedule, constantSchedule, valueAt } from "../../../src/load/stages.js";
import { compileTemplate, render } from "../../../src/load/template.js";

function countDue(schedule: (index: number) => number): number {
  let index = 0;
  while (schedule(index) !== Number.POSITIVE_INFINITY) index++;
  return index;
}

test("stages interpolate linearly from the start value (k6 semantics)", () => {
  const stages = [
    { durationMs: 1000, target: 10 },
    { durationMs: 1000, target: 0 },
  ];
  assert.equal(valueAt(0, stages, 0), 0);
  assert.equal(valueAt(0, stages, 500), 5);
  assert.equal(valueAt(0, stages, 1500), 5);
  assert.equal(valueAt(0, stages, 5000), 0);
});

test("the ramping arrival schedule integrates the rate", () => {
  const ramp = arrivalSchedule(50, [{ durationMs: 2000, target: 150 }]);
  assert.equal(countDue(ramp), 200);
  assert.equal(ramp(0), 0);
  // the first second carries 50..100/s = 75 arrivals
  assert.ok(ramp(74) < 1000 && ramp(76) > 1000);
  const times = Array.from({ length: 200 }, (_, index) => ramp(index));
  assert.ok(times.every((time, index) => index === 0 || time > times[index - 1]!));
  assert.equal(
    countDue(
      arrivalSchedule(0, [
        { durationMs: 1000, target: 0 },
        { durationMs: 1000, target: 10 },
      ]),
    ),
    5,
  );
  assert.equal(countDue(constantSchedule(100, 1000)), 100);
});

test("templates substitute data and vars, JSON-escaped in mapping bodies", () => {
  const { template, problems } = compileTemplate('{"u":"${data.user}","t":"${vars.token}"}', true);
  assert.deepEqual(problems, []);
  const vars = new Map([["token", 'a"b']]);
  assert.equal(render(template, { data: { user: "x" }, vars }), '{"u":"x","t":"a\\"b"}');
  assert.equal(compileTemplate("${env.HOME}").problems.length, 1);
});

test("CSV with quotes and CRLF, and JSON rows", () => {
  assert.deepEqual(parseCsv('a,b\r\n"x, y","say ""hi"""\r\n1,2\n'), [
    { a: "x, y", b: 'say "hi"' },
    { a: "1", b: "2" },
  ]);
  assert.deepEqual(parseJsonRows('[{"a":"x","n":1}]'), [{ a: "x", n: "1" }]);
  assert.throws(() => parseJsonRows("{}"), /array/);
});

test("extraction from json, header and regex", () => {
  const keys = parseJsonPath("$.data.items[1].id")!;
  assert.deepEqual(keys, ["data", "items", 1, "id"]);
  assert.equal(parseJsonPath("token"), undefined);
  const body = '{"data":{"items":[{"id":1},{"id":"b"}]}}';
  assert.equal(extract({ name: "x", from: "json", keys }, body, {}), "b");
  assert.equal(extract({ name: "x", from: "json", keys: ["nope"] }, body, {}), undefined);
  assert.equal(extract({ name: "x", from: "header", header: "x-token" }, "", { "x-token": "t1" }), "t1");
  assert.equal(extract({ name: "x", from: "regex", pattern: /"id":"(\w+)"/ }, body, {}), "b");
});

test("cross-checks: unknown mix name, unextracted var, missing data, bad threshold", () => {
  const text = [
    "target: http://127.0.0.1:1/api",
    "requests:",
    "  - name: a",
    "    path: /x/${data.id}",
    "    headers:",
    "      Authorization: Bearer ${vars.token}",
    "mix:",
    "  a: 1",
    "  b: 2",
    "thresholds: ['p(95)<fast']",
    "",
  ].join("\n");
  assert.throws(
    () => parseScenario(text, { source: "c.yaml", baseDir: "." }),
    (error: ConfigError) => {
      const lines = error.problems.map((problem) => `${problem.where} ${problem.path}: ${problem.message}`);
      assert.ok(
        lines.some((line) => /^c\.yaml:9:3 mix\.b: no request named b/.test(line)),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((line) => /vars\.token\} is not extracted/.test(line)),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((line) => /data\.id\} needs a data file/.test(line)),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((line) => /^c\.yaml:10:\d+ thresholds\[0\]: invalid threshold/.test(line)),
        lines.join("\n"),
      );
      return true;
    },
  );
  const ok = parseScenario("target: http://127.0.0.1:1/api\nrequests: [{ name: a, path: /x }]\n", {
    source: "d.yaml",
    baseDir: ".",
  });
  assert.equal(ok.requests[0]!.displayUrl, "http://127.0.0.1:1/api/x");
  assert.equal(ok.executor, undefined);
});

test("schema problems are worded as in bulwark.yaml: missing keys, unknown keys, every one located", () => {
  const text = [
    "target: http://127.0.0.1:1/api",
    "requests:",
    "  - path: /x",
    "tls: { insecure: yes, cafile: x.pem }",
    "timeout: soon",
    "",
  ].join("\n");
  assert.throws(
    () => parseScenario(text, { source: "s.yaml", baseDir: "." }),
    (error: ConfigError) => {
      const lines = error.problems.map((problem) => `${problem.where} ${problem.path}: ${problem.message}`);
      const expected = [
        /^s\.yaml:3:5 requests\[0\]\.name: missing: expected string$/,
        /^s\.yaml:4:\d+ tls\.insecure: expected true or false$/,
        /^s\.yaml:4:\d+ tls\.cafile: unknown key; see the scenario reference in docs\/load\.md$/,
        /^s\.yaml:5:\d+ timeout: /,
      ];
      for (const pattern of expected)
        assert.ok(
          lines.some((line) => pattern.test(line)),
          `${pattern}\n${lines.join("\n")}`,
        );
      assert.equal(lines.length, expected.length, lines.join("\n"));
      return true;
    },
  );
});

test("tls: insecure and ca exclude each other and need an https:// request, worded with the keys", () => {
  const problems = (body: string) => {
    try {
      parseScenario(body, { source: "t.yaml", baseDir: "." });
    } catch (error) {
      return (error as ConfigError).problems.map((problem) => `${problem.path}: ${problem.message}`);
    }
    return [];
  };
  assert.deepEqual(
    problems(
      "target: https://127.0.0.1:1/\nrequests: [{ name: a, path: / }]\ntls: { insecure: true, ca: x.pem }\n",
    ),
    [
      "tls: give insecure or ca, not both (ca verifies the target against the file, insecure verifies nothing)",
    ],
  );
  assert.deepEqual(
    problems("target: http://127.0.0.1:1/\nrequests: [{ name: a, path: / }]\ntls: { insecure: true }\n"),
    ["tls: insecure applies to https:// targets; http://127.0.0.1:1 is plain HTTP"],
  );
  const ok = parseScenario(
    "target: https://127.0.0.1:1/\nrequests: [{ name: a, path: / }]\ntls: { insecure: true }\n",
    {
      source: "t.yaml",
      baseDir: ".",
    },
  );
  assert.deepEqual(ok.tls, { insecure: true });
});

test("presets, and how they scale", () => {
  const url = "http://127.0.0.1:1/";
  assert.deepEqual(buildPlan({ target: url, preset: "peak" }).executor, {
    kind: "constant-vus",
    vus: 500,
    durationMs: 300_000,
  });
  assert.deepEqual(buildPlan({ target: url, preset: "soak", duration: "1h" }).executor, {
    kind: "constant-vus",
    vus: 200,
    durationMs: 3_600_000,
  });
  // stress is a breaking-point search (test/integration/load/find-limit.test.ts)
  assert.deepEqual(buildPlan({ target: url, preset: "stress", rate: "50" }).executor, {
    kind: "constant-arrival-rate",
    rate: 5,
    durationMs: 60_000,
    connections: 100,
    maxQueue: 10,
  });
  assert.throws(() => buildPlan({ target: url, preset: "huge" }), /--preset: expected normal/);
  assert.throws(() => buildPlan({ target: url, preset: "normal", rate: "5" }), /--preset runs virtual users/);
});
