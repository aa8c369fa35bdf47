/**
 * Rate limiting through a real redis-server: gateways sharing one limit, Redis killed and brought
 * back under fail-open and fail-closed, and the accuracy of three gateway processes (the built
 * `bulwark serve`) hammered concurrently.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Agent, request } from "undici";
import { spawnCli, waitForOutput } from "../../support/cli.js";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { startRedis, type TestRedis } from "../../support/redis.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

const UNREACHABLE = /^rate limit store unreachable/;
const RECOVERED = "rate limit store reachable again";

async function status(url: string): Promise<{ status: number; code?: unknown }> {
  const response = await request(url);
  const text = await response.body.text();
  const code = response.statusCode >= 400 ? (JSON.parse(text) as { code?: unknown }).code : undefined;
  return { status: response.statusCode, code };
}

describe("rate limiting (redis store)", () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let failOpen: TestGateway;
  let failClosed: TestGateway;

  before(async () => {
    redis = await startRedis();
    upstream = await startUpstream();
    const config = (failMode: "open" | "closed") => ({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [{ name: "api", upstream: "app", rateLimit: [{ name: "per-ip", limit: 5, per: "1m" }] }],
      server: { rateLimitStore: { type: "redis", url: "${env:REDIS_URL}", failMode } },
    });
    const env = { REDIS_URL: redis.url };
    failOpen = await startGateway(config("open"), { env });
    failClosed = await startGateway(config("closed"), { env });
  });

  after(async () => {
    await failOpen.stop();
    await failClosed.stop();
    await upstream.close();
    await redis.close();
  });

  test("two gateways share one limit", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await status(`${failOpen.url}/a`)).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await status(`${failClosed.url}/a`)).status, 200);
    assert.deepEqual(await status(`${failOpen.url}/a`), { status: 429, code: "rate_limited" });
    assert.deepEqual(await status(`${failClosed.url}/a`), { status: 429, code: "rate_limited" });
  });

  test("Redis killed: fail-open lets through, fail-closed answers 503; one log line per state change", async () => {
    await redis.kill();
    for (let i = 0; i < 10; i++) {
      assert.equal((await status(`${failOpen.url}/a`)).status, 200, "fail-open lets requests through");
      assert.deepEqual(await status(`${failClosed.url}/a`), { status: 503, code: "rate_limit_unavailable" });
    }
    for (const gw of [failOpen, failClosed]) {
      const lines = gw.logs().filter((line) => UNREACHABLE.test(String(line.msg)));
      assert.equal(lines.length, 1, "one log line for the outage, not one per request");
      assert.equal(lines[0]!.level, "error");
    }
    const metrics = await (await request(`${failClosed.adminUrl}/metrics`)).body.text();
    assert.match(metrics, /bulwark_rate_limit_store_up 0/);
    const errors = Number(/bulwark_rate_limit_store_errors_total (\d+)/.exec(metrics)?.[1]);
    assert.ok(errors >= 10, `store errors counted: ${errors}`);

    await redis.start();
    const deadline = Date.now() + 15_000;
    while ((await status(`${failClosed.url}/a`)).status !== 200) {
      assert.ok(Date.now() < deadline, "fail-closed gateway recovers when Redis is back");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The restarted Redis is empty: the limit starts again and is enforced again.
    let admitted = 1;
    for (let i = 0; i < 10; i++) if ((await status(`${failClosed.url}/a`)).status === 200) admitted++;
    assert.equal(admitted, 5);
    assert.equal((await status(`${failOpen.url}/a`)).status, 429);
    for (const gw of [failOpen, failClosed]) {
      assert.equal(gw.logs().filter((line) => line.msg === RECOVERED).length, 1, "one line for the recovery");
      assert.equal(gw.logs().filter((line) => UNREACHABLE.test(String(line.msg))).length, 1);
    }
  });
});

describe("rate-limit accuracy across gateway processes", () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let dir: string;
  const processes: ReturnType<typeof spawnCli>[] = [];

  before(async () => {
    redis = await startRedis();
    upstream = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), "bulwark-rl-"));
  });

  after(async () => {
    for (const child of processes) {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once("exit", () => resolve());
          child.kill("SIGKILL");
        });
      }
    }
    await upstream.close();
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("three gateways sharing one Redis admit within ±1% of the limit under concurrent load", async (t) => {
    // limit 300 per hour, burst 0: T = 12 s, so a run shorter than 12 s may admit exactly 300.
    const file = join(dir, "bulwark.yaml");
    writeFileSync(
      file,
      [
        "listeners: [{ address: 127.0.0.1:0 }]",
        "admin: { enabled: false }",
        `upstreams: { app: { targets: [${upstream.url}] } }`,
        "routes:",
        "  - upstream: app",
        "    rateLimit: [{ name: shared, limit: 300, per: 1h, burst: 0 }]",
        `server: { rateLimitStore: { type: redis, url: "${redis.url}", failMode: closed, timeout: 2s } }`,
        "logging: { accessLog: false }",
        "",
      ].join("\n"),
    );
    const urls: string[] = [];
    for (let i = 0; i < 3; i++) {
      const child = spawnCli(["serve", "-c", file]);
      processes.push(child);
      await waitForOutput(child, /"msg":"listening"/, 15_000);
      const address = /"address":"127\.0\.0\.1:(\d+)"/.exec(child.output().stdout)?.[1];
      assert.ok(address, child.output().stdout);
      urls.push(`http://127.0.0.1:${address}`);
    }
    const agent = new Agent({ connections: 16 });
    const counts = new Map<number, number>();
    let next = 0;
    const total = 1200;
    const startedAt = Date.now();
    const client = async (index: number) => {
      while (next < total) {
        const n = next++;
        const response = await request(`${urls[(n + index) % 3]}/x`, { dispatcher: agent });
        await response.body.text();
        counts.set(response.statusCode, (counts.get(response.statusCode) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 24 }, (_, index) => client(index)));
    const elapsed = Date.now() - startedAt;
    await agent.close();
    const admitted = counts.get(200) ?? 0;
    assert.deepEqual([...counts.keys()].sort(), [200, 429], JSON.stringify([...counts]));
    assert.equal(admitted + (counts.get(429) ?? 0), total);
    // GCRA admits the capacity plus one per 12 s elapsed; the run is far shorter than a period.
    const expected = 300 + Math.floor(elapsed / 12_000);
    t.diagnostic(`admitted ${admitted} of ${total} in ${elapsed} ms (expected ${expected})`);
    assert.ok(Math.abs(admitted - expected) <= expected * 0.01, `admitted ${admitted}, expected ${expected}`);
  });
});
