/**
 * Scenario files against real servers on 127.0.0.1 port 0: positioned parse errors, a weighted
 * mix, CSV data and extracted tokens reaching the server, ramping executors, per-request-name
 * metrics and presets. Tolerances are wide enough for a loaded machine.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { main } from "../../../src/cli/main.js";
import { ConfigError } from "../../../src/config/load.js";
import { ExitCode } from "../../../src/exit-codes.js";
import { buildPlan } from "../../../src/load/plan.js";
import { buildSummary } from "../../../src/load/report.js";
import { runLoad } from "../../../src/load/run.js";
import { loadScenarioFile, parseScenario } from "../../../src/load/scenario.js";

interface Seen {
  paths: Map<string, number>;
  users: string[];
  authorized: number;
  unauthorized: number;
  inFlight: number;
  maxInFlight: number;
  total: number;
}

let server: Server;
let base: string;
let dir: string;
const seen: Seen = {
  paths: new Map(),
  users: [],
  authorized: 0,
  unauthorized: 0,
  inFlight: 0,
  maxInFlight: 0,
  total: 0,
};

function reset(): void {
  Object.assign(seen, {
    paths: new Map(),
    users: [],
    authorized: 0,
    unauthorized: 0,
    inFlight: 0,
    maxInFlight: 0,
    total: 0,
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "bulwark-scenario-"));
  server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!;
      seen.total++;
      seen.paths.set(path, (seen.paths.get(path) ?? 0) + 1);
      if (path.startsWith("/login")) {
        const user = (JSON.parse(body) as { user: string }).user;
        seen.users.push(user);
        res.setHeader("content-type", "application/json");
        return void res.end(JSON.stringify({ token: `tok-${user}` }));
      }
      if (path === "/me") {
        if (/^Bearer tok-\w+$/.test(req.headers.authorization ?? "")) seen.authorized++;
        else seen.unauthorized++;
        return void res.end("me");
      }
      if (path === "/slow") {
        seen.inFlight++;
        seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
        return void setTimeout(() => {
          seen.inFlight--;
          res.end("ok");
        }, 50);
      }
      res.end("ok");
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function scenarioFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function run(file: string) {
  const plan = buildPlan({ target: file });
  return buildSummary(plan, await runLoad(plan));
}

test("scenario problems are all reported at once with file:line:column and key path", () => {
  const text = [
    "target: http://127.0.0.1:1",
    "requests:",
    "  - name: a",
    "    path: /a",
    "    bogus: 1",
    "  - name: b",
    "    path: /b",
    "mix: { a: 1, b: -2 }",
    "executor:",
    "  type: ramping-vus",
    "  stages:",
    "    - { target: 10 }",
    "",
  ].join("\n");
  const error = (() => {
    try {
      parseScenario(text, { source: "s.yaml", baseDir: dir });
    } catch (caught) {
      return caught as ConfigError;
    }
    assert.fail("expected a ConfigError");
  })();
  assert.ok(error instanceof ConfigError);
  const details = error.problems.map((problem) => `${problem.where} ${problem.path}`);
  assert.ok(details.includes("s.yaml:5:5 requests[0].bogus"), details.join("\n"));
  assert.ok(
    details.some((line) => line.startsWith("s.yaml:8:") && line.endsWith("mix.b")),
    details.join("\n"),
  );
  assert.ok(
    details.some((line) => line.startsWith("s.yaml:12:") && line.endsWith("executor.stages[0].duration")),
    details.join("\n"),
  );

  const badType = () =>
    parseScenario("target: http://h\nrequests: [{ name: a, path: / }]\nexecutor:\n  type: constant-users\n", {
      source: "t.yaml",
      baseDir: dir,
    });
  assert.throws(badType, (caught: ConfigError) => {
    const first = caught.problems[0]!;
    assert.match(first.where, /^t\.yaml:4:/);
    assert.equal(first.path, "executor.type");
    assert.match(first.message, /ramping-arrival-rate/);
    return true;
  });
});

test("a weighted mix hits two endpoints in the weighted proportion, metrics per name", async () => {
  reset();
  const file = scenarioFile(
    "mix.yaml",
    `target: ${base}\nrequests:\n  - { name: heavy, path: /heavy }\n  - { name: light, path: /light }\nmix: { heavy: 3, light: 1 }\nexecutor: { type: constant-arrival-rate, rate: 400, duration: 1s, maxQueue: 10000 }\n`,
  );
  const summary = await run(file);
  const heavy = seen.paths.get("/heavy") ?? 0;
  const light = seen.paths.get("/light") ?? 0;
  // The schedule is exact (400 iterations); a generator starved by other work on the machine
  // may still hold some in its queue when the second ends (dropped), never lose them.
  assert.equal(heavy + light + summary.dropped, 400);
  assert.ok(heavy + light >= 150, `only ${heavy + light} requests`);
  // ±0.12 is more than 3 standard deviations of the share at 150 picks.
  const share = heavy / (heavy + light);
  assert.ok(Math.abs(share - 0.75) <= 0.12, `heavy share ${share}`);
  assert.equal(summary.byRequest.heavy!.requests, heavy);
  assert.equal(summary.byRequest.light!.requests, light);
  assert.equal(typeof summary.byRequest.heavy!.latency.p99, "number");
  assert.equal(summary.scenario, file);
});

test("CSV data reaches the server and an extracted token is sent in the next request", async () => {
  reset();
  writeFileSync(join(dir, "users.csv"), 'user,password\nalice,x\n"bob",y\ncarol,z\n');
  const file = scenarioFile(
    "flow.yaml",
    [
      `target: ${base}`,
      "data: { file: users.csv, mode: sequential }",
      "requests:",
      "  - name: login",
      "    method: POST",
      "    path: /login",
      '    body: { user: "${data.user}" }',
      '    extract: { name: token, from: json, path: "$.token" }',
      "  - name: me",
      "    path: /me",
      "    headers:",
      "      Authorization: Bearer ${vars.token}",
      "executor: { type: constant-vus, vus: 2, duration: 500ms }",
      "",
    ].join("\n"),
  );
  const summary = await run(file);
  assert.ok(seen.users.length >= 3, `${seen.users.length} logins`);
  assert.deepEqual(seen.users.slice(0, 3).sort(), ["alice", "bob", "carol"]);
  assert.ok(seen.authorized >= 3);
  assert.equal(seen.unauthorized, 0);
  assert.equal(summary.byRequest.login!.requests + summary.byRequest.me!.requests, summary.requests);
});

test("ramping-arrival-rate from 50 to 150 req/s over 2 s sends about 200 requests", async () => {
  reset();
  const file = scenarioFile(
    "ramp-rate.yaml",
    `target: ${base}\nrequests: [{ name: ping, path: /ping }]\nexecutor:\n  type: ramping-arrival-rate\n  startRate: 50\n  stages: [{ duration: 2s, target: 150 }]\n`,
  );
  const summary = await run(file);
  assert.ok(Math.abs(seen.total - 200) <= 20, `sent ${seen.total}`);
  assert.equal(summary.executor.kind, "ramping-arrival-rate");
});

test("ramping-vus reaches the target VU count (the server sees that concurrency)", async () => {
  reset();
  const file = scenarioFile(
    "ramp-vus.yaml",
    `target: ${base}\nrequests: [{ name: slow, path: /slow }]\nexecutor:\n  type: ramping-vus\n  stages: [{ duration: 600ms, target: 20 }, { duration: 600ms, target: 20 }]\n`,
  );
  await run(file);
  assert.equal(seen.maxInFlight, 20);
});

test("a preset run scaled by --vus and --duration", async () => {
  reset();
  const out = join(dir, "preset.json");
  const code = await main([
    "load",
    `${base}/p`,
    "--preset",
    "normal",
    "--vus",
    "5",
    "--duration",
    "1s",
    "--out",
    out,
    "--no-evidence",
  ]);
  assert.equal(code, ExitCode.Ok);
  const summary = JSON.parse(readFileSync(out, "utf8")) as {
    executor: unknown;
    requests: number;
    byRequest: Record<string, unknown>;
  };
  assert.deepEqual(summary.executor, { kind: "constant-vus", vus: 5, durationMs: 1000 });
  assert.ok(summary.requests > 10);
  assert.ok(summary.byRequest.default);
  assert.throws(() => buildPlan({ target: `${base}/p`, vus: "5" }), /--duration/);
});

test("through the CLI: a bad scenario exits 2; a scenario without executor takes --preset", async () => {
  const bad = scenarioFile("bad.yaml", "target: nope\nrequests: []\n");
  assert.equal(await main(["load", bad, "--no-evidence"]), ExitCode.UsageOrConfig);
  reset();
  const file = scenarioFile("no-executor.yaml", `target: ${base}\nrequests: [{ name: ping, path: /ping }]\n`);
  const out = join(dir, "no-executor.json");
  assert.equal(
    await main([
      "load",
      file,
      "--preset",
      "peak",
      "--vus",
      "3",
      "--duration",
      "500ms",
      "--out",
      out,
      "--no-evidence",
    ]),
    ExitCode.Ok,
  );
  const summary = JSON.parse(readFileSync(out, "utf8")) as {
    executor: { vus: number };
    byRequest: { ping: { requests: number } };
  };
  assert.equal(summary.executor.vus, 3);
  assert.equal(summary.byRequest.ping.requests, seen.total);
  assert.equal(await main(["load", file, "--no-evidence"]), ExitCode.UsageOrConfig);
});

test("every scenario in docs/examples/load parses", () => {
  const folder = join(import.meta.dirname, "../../../docs/examples/load");
  const files = readdirSync(folder).filter((name) => /\.ya?ml$/.test(name));
  assert.ok(files.length > 0);
  for (const name of files) assert.ok(loadScenarioFile(join(folder, name)).requests.length > 0, name);
});
