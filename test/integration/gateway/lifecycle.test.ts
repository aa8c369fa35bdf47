/**
 * Reload, drain and the admin listener, against a real gateway and upstream.
 */
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import WebSocket from "ws";
import { startGateway, startGatewayFromFile, type TestGateway } from "../../support/gateway.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

function yamlConfig(upstreamUrl: string, extraRoute = ""): string {
  return `listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
upstreams:
  app:
    targets: [${upstreamUrl}]
routes:
  - name: root
    upstream: app
${extraRoute}`;
}

const NEW_ROUTE = `  - name: added
    match: { pathPrefix: /added }
    upstream: app
    rewritePrefix: /echo
`;

async function reload(
  gw: TestGateway,
): Promise<{ status: number; body: { applied: boolean; error?: string; details?: string[] } }> {
  const response = await request(`${gw.adminUrl}/reload`, { method: "POST" });
  return { status: response.statusCode, body: (await response.body.json()) as never };
}

describe("reload", () => {
  let upstream: TestUpstream;
  let dir: string;
  let file: string;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), "bulwark-reload-"));
    file = join(dir, "bulwark.yaml");
    writeFileSync(file, yamlConfig(upstream.url));
    gw = await startGatewayFromFile(file, { watch: true });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a valid new config is applied by POST /reload", async () => {
    const before = await request(`${gw.url}/added/x`);
    await before.body.dump();
    assert.equal(before.statusCode, 200, "without the route, /added goes to the root route");
    assert.equal(upstream.seen.at(-1)!.url, "/added/x");
    writeFileSync(file, yamlConfig(upstream.url, NEW_ROUTE));
    const result = await reload(gw);
    assert.equal(result.status, 200);
    assert.equal(result.body.applied, true);
    const after = await request(`${gw.url}/added/x`);
    await after.body.dump();
    assert.equal(upstream.seen.at(-1)!.url, "/echo/x");
  });

  test("an invalid config is refused with its problems and the old one keeps serving", async () => {
    writeFileSync(file, `${yamlConfig(upstream.url, NEW_ROUTE)}  - upstream: missing\n    bogus: 1\n`);
    const result = await reload(gw);
    assert.equal(result.status, 409);
    assert.equal(result.body.applied, false);
    assert.ok(result.body.details?.some((line) => /bogus/.test(line) && /bulwark\.yaml:\d+:\d+/.test(line)));
    const still = await request(`${gw.url}/added/y`);
    await still.body.dump();
    assert.equal(still.statusCode, 200);
    assert.equal(upstream.seen.at(-1)!.url, "/echo/y");
    const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text();
    assert.match(metrics, /bulwark_config_reloads_total\{result="refused"\} [1-9]/);
    writeFileSync(file, yamlConfig(upstream.url, NEW_ROUTE));
  });

  test("an in-flight request and an open WebSocket survive a reload", async () => {
    const slow = request(`${gw.url}/delay/700`);
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/socket`);
    const messages: string[] = [];
    ws.on("message", (data) => messages.push(String(data)));
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    writeFileSync(file, yamlConfig(upstream.url));
    assert.equal((await reload(gw)).body.applied, true);
    ws.send("after reload");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(messages.includes("after reload"), `echo received: ${JSON.stringify(messages)}`);
    const hello = JSON.parse(messages[0]!) as { headers: Record<string, string> };
    assert.equal(
      hello.headers["x-forwarded-for"],
      "127.0.0.1",
      "the upgrade carried rebuilt forwarding headers",
    );
    ws.close();
    const response = await slow;
    assert.equal(response.statusCode, 200);
    assert.equal(await response.body.text(), "late");
  });

  test("saving the file reloads it", async () => {
    // Editors and Kubernetes replace files by rename; the directory watch sees it.
    const temp = join(dir, "bulwark.yaml.tmp");
    writeFileSync(temp, yamlConfig(upstream.url, NEW_ROUTE.replace("/added", "/watched")));
    renameSync(temp, file);
    const deadline = Date.now() + 5000;
    for (;;) {
      const response = await request(`${gw.url}/watched/z`);
      await response.body.dump();
      if (upstream.seen.at(-1)!.url === "/echo/z") break;
      assert.ok(Date.now() < deadline, "the file change was not applied within 5 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
});

describe("drain", () => {
  test("shutdown lets in-flight requests finish, reports not ready, and refuses new connections", async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [{ upstream: "app" }],
    });
    try {
      const ready = await request(`${gw.adminUrl}/ready`);
      assert.equal(ready.statusCode, 200);
      await ready.body.dump();
      const inFlight = request(`${gw.url}/delay/600`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const stopping = gw.instance.gateway.shutdown(5000);
      const draining = await request(`${gw.adminUrl}/ready`);
      assert.equal(draining.statusCode, 503);
      assert.equal(((await draining.body.json()) as { state: string }).state, "draining");
      await assert.rejects(request(`${gw.url}/`, { headersTimeout: 1000 }), "new connections are refused");
      const response = await inFlight;
      assert.equal(response.statusCode, 200);
      assert.equal(await response.body.text(), "late");
      await stopping;
      assert.equal(gw.instance.gateway.currentState, "stopped");
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test("a refused CONNECT whose client never closes holds neither its socket nor the shutdown", async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [{ upstream: "app" }],
    });
    try {
      const socket = connect(gw.port, "127.0.0.1");
      const answer = await new Promise<string>((resolve) => {
        let text = "";
        socket.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        socket.on("close", () => resolve(text));
        // this client never ends its side
        socket.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
      });
      assert.match(answer, /^HTTP\/1\.1 405 /);
      assert.match(answer, /"code":"method_not_allowed"/);
      const started = Date.now();
      await gw.instance.gateway.shutdown(5000);
      assert.ok(Date.now() - started < 2000, "shutdown did not wait on the refused socket");
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test("requests still running at the end of the grace period are cut", async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [{ upstream: "app" }],
    });
    try {
      const inFlight = request(`${gw.url}/delay/5000`).then(
        (response) => response.body.text(),
        (error: Error) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await gw.instance.gateway.shutdown(300);
      assert.ok(Date.now() - started < 2000, "shutdown honours the grace period");
      assert.ok((await inFlight) instanceof Error, "the unfinished request was cut");
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
});

describe("admin listener", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const token = "a-long-admin-token-for-tests";

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] }, down: { targets: ["http://127.0.0.1:1"] } },
      routes: [{ upstream: "app" }, { match: { pathPrefix: "/down" }, upstream: "down" }],
      admin: { token },
    });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  const auth = { authorization: `Bearer ${token}` };

  test("/live answers; /ready is 503 with reasons while an upstream has no healthy target", async () => {
    const live = await request(`${gw.adminUrl}/live`);
    assert.equal(live.statusCode, 200);
    await live.body.dump();
    const ready = await request(`${gw.adminUrl}/ready`, { headers: auth });
    assert.equal(ready.statusCode, 503);
    const report = (await ready.body.json()) as { reasons: string[] };
    assert.ok(report.reasons.some((reason) => reason.includes("upstream down")));
  });

  test("without the token, /ready says only ready or not, and /metrics, /health, /reload are refused", async () => {
    const ready = await request(`${gw.adminUrl}/ready`);
    assert.deepEqual(await ready.body.json(), { ready: false });
    for (const [path, method] of [
      ["/metrics", "GET"],
      ["/health", "GET"],
      ["/reload", "POST"],
    ] as const) {
      const response = await request(`${gw.adminUrl}${path}`, {
        method,
        headers: { authorization: "Bearer wrong" },
      });
      assert.equal(response.statusCode, 401, path);
      await response.body.dump();
    }
  });

  test("/metrics has request, duration, upstream error, connection and process metrics", async () => {
    await (await request(`${gw.url}/`)).body.dump();
    await (await request(`${gw.url}/down`)).body.dump();
    const response = await request(`${gw.adminUrl}/metrics`, { headers: auth });
    assert.equal(response.statusCode, 200);
    const text = await response.body.text();
    assert.match(text, /bulwark_requests_total\{route="route-0",method="GET",status_class="2xx"\} [1-9]/);
    assert.match(text, /bulwark_requests_total\{route="route-1",method="GET",status_class="5xx"\} [1-9]/);
    assert.match(text, /bulwark_request_duration_seconds_bucket\{le="0\.005",route="route-0",method="GET"\}/);
    assert.match(text, /bulwark_requests_in_flight 0/);
    assert.match(text, /bulwark_open_connections\{listener="127\.0\.0\.1:0"\}/);
    assert.match(
      text,
      /bulwark_upstream_target_healthy\{upstream="down",target="http:\/\/127\.0\.0\.1:1"\} 0/,
    );
    assert.match(text, /bulwark_process_resident_memory_bytes/);
  });

  test("/health lists each target's state", async () => {
    const response = await request(`${gw.adminUrl}/health`, { headers: auth });
    const health = (await response.body.json()) as {
      version: string;
      upstreams: Record<string, { targets: { healthy: boolean }[] }>;
    };
    assert.equal(typeof health.version, "string");
    assert.equal(health.upstreams.app!.targets[0]!.healthy, true);
    assert.equal(health.upstreams.down!.targets[0]!.healthy, false);
  });
});
