/**
 * The proxy path end to end: a real gateway in front of real upstream servers on loopback.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { startGateway, type TestGateway } from "../../support/gateway.js";
import { rawRequest } from "../../support/raw-http.js";
import { startUpstream, type TestUpstream } from "../../support/upstream.js";

type Echo = { method: string; url: string; headers: Record<string, string>; body: string; bytes: number };

describe("proxying", () => {
  let upstream: TestUpstream;
  let second: TestUpstream;
  let gw: TestGateway;
  let resetter: Server;
  let vanishing: TestUpstream;

  before(async () => {
    upstream = await startUpstream({ name: "one" });
    second = await startUpstream({ name: "two" });
    vanishing = await startUpstream();
    // Accepts connections (so health checks pass) and resets every request.
    resetter = createServer((socket) => socket.once("data", () => socket.resetAndDestroy()));
    await new Promise<void>((resolve) => resetter.listen(0, "127.0.0.1", resolve));
    const resetPort = (resetter.address() as { port: number }).port;
    gw = await startGateway({
      upstreams: {
        app: { targets: [upstream.url] },
        pair: { targets: [upstream.url, second.url] },
        dead: { targets: ["http://127.0.0.1:1"] },
        reset: { targets: [`http://127.0.0.1:${resetPort}`] },
        vanishing: { targets: [vanishing.url], ejectFor: "10s", healthCheck: { interval: "1h" } },
        slow: { targets: [upstream.url], timeouts: { responseHeaders: "300ms" } },
      },
      routes: [
        { name: "root", upstream: "app" },
        { name: "api", match: { pathPrefix: "/api" }, upstream: "app", stripPrefix: true },
        { name: "v2", match: { pathPrefix: "/v2/" }, upstream: "app", rewritePrefix: "/echo" },
        { name: "rr", match: { pathPrefix: "/rr" }, upstream: "pair", stripPrefix: true },
        { name: "dead", match: { pathPrefix: "/dead" }, upstream: "dead" },
        { name: "reset", match: { pathPrefix: "/reset" }, upstream: "reset" },
        { name: "vanishing", match: { pathPrefix: "/vanishing" }, upstream: "vanishing" },
        { name: "slow", match: { pathPrefix: "/slow" }, upstream: "slow", stripPrefix: true },
        {
          name: "small",
          match: { pathPrefix: "/small" },
          upstream: "app",
          rewritePrefix: "/echo",
          limits: { maxBodySize: "1kb" },
        },
        {
          name: "host",
          match: { host: "*.example.test", pathPrefix: "/" },
          upstream: "app",
          rewritePrefix: "/echo/host",
        },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    await second.close();
    await vanishing.close();
    resetter.close();
  });

  test("a GET reaches the upstream and its answer comes back with a request id and traceparent", async () => {
    const response = await request(`${gw.url}/echo?x=1`);
    assert.equal(response.statusCode, 200);
    const echo = (await response.body.json()) as Echo;
    assert.equal(echo.url, "/echo?x=1");
    const id = response.headers["x-request-id"];
    assert.equal(typeof id, "string");
    assert.equal(echo.headers["x-request-id"], id);
    assert.match(String(response.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(echo.headers.traceparent, response.headers.traceparent);
  });

  test("forwarding headers are set from the peer, and a client's spoofed ones are replaced", async () => {
    const response = await request(`${gw.url}/echo`, {
      headers: {
        "x-forwarded-for": "6.6.6.6",
        "x-real-ip": "6.6.6.6",
        forwarded: "for=6.6.6.6",
        "x-forwarded-proto": "https",
      },
    });
    const echo = (await response.body.json()) as Echo;
    assert.equal(echo.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(echo.headers["x-real-ip"], "127.0.0.1");
    assert.equal(echo.headers["x-forwarded-proto"], "http");
    assert.equal(echo.headers["x-forwarded-host"], `127.0.0.1:${gw.port}`);
    assert.equal(echo.headers.forwarded, `for=127.0.0.1;host="127.0.0.1:${gw.port}";proto=http`);
    assert.equal(echo.headers.host, `127.0.0.1:${gw.port}`, "the client's Host is preserved by default");
  });

  test("hop-by-hop headers and the headers named in Connection are not forwarded", async () => {
    const raw = await rawRequest(
      gw.port,
      "GET /echo HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n" +
        "TE: trailers\r\nProxy-Authorization: Basic c2VjcmV0\r\nX-Kept: yes\r\n\r\n",
      300,
    );
    assert.equal(raw.status, 200);
    const echo = JSON.parse(raw.body.slice(raw.body.indexOf("{"), raw.body.lastIndexOf("}") + 1)) as Echo;
    for (const name of ["x-secret-hop", "keep-alive", "te", "proxy-authorization"]) {
      assert.equal(echo.headers[name], undefined, `${name} must not reach the upstream`);
    }
    assert.equal(echo.headers["x-kept"], "yes");
  });

  test("a well-formed incoming request id and traceparent are kept; malformed ones replaced", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const kept = await request(`${gw.url}/echo`, {
      headers: { "x-request-id": "req-12345678", traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const echo = (await kept.body.json()) as Echo;
    assert.equal(kept.headers["x-request-id"], "req-12345678");
    assert.equal(echo.headers.traceparent!.split("-")[1], traceId);
    assert.notEqual(
      echo.headers.traceparent!.split("-")[2],
      "00f067aa0ba902b7",
      "the gateway's hop gets its own span id",
    );
    const replaced = await request(`${gw.url}/echo`, {
      headers: { "x-request-id": "bad id\twith spaces", traceparent: "garbage" },
    });
    await replaced.body.dump();
    assert.notEqual(replaced.headers["x-request-id"], "bad id\twith spaces");
    assert.match(String(replaced.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
    assert.notEqual(String(replaced.headers.traceparent).split("-")[1], "garbage");
  });

  test("prefix strip and rewrite", async () => {
    const stripped = await request(`${gw.url}/api/echo?q=2`);
    assert.equal(((await stripped.body.json()) as Echo).url, "/echo?q=2");
    const rewritten = await request(`${gw.url}/v2/users/7`);
    assert.equal(((await rewritten.body.json()) as Echo).url, "/echo/users/7");
    const apix = await request(`${gw.url}/apix`);
    assert.equal(
      await apix.body.text(),
      "ok",
      "/apix is not under the /api prefix: it goes to the root route as is",
    );
    assert.equal(upstream.seen.at(-1)!.url, "/apix");
  });

  test("host routing takes the wildcard host route", async () => {
    const response = await request(`${gw.url}/x`, { headers: { host: "shop.example.test" } });
    assert.equal(((await response.body.json()) as Echo).url, "/echo/host/x");
    const other = await request(`${gw.url}/x`, { headers: { host: "example.test" } });
    assert.equal(await other.body.text(), "ok", "the bare parent domain does not match *.example.test");
  });

  test("round robin across the targets of a group", async () => {
    const names: string[] = [];
    for (let index = 0; index < 4; index++) {
      const response = await request(`${gw.url}/rr/`);
      await response.body.dump();
      names.push(String(response.headers["x-upstream"]));
    }
    assert.deepEqual(names.sort(), ["one", "one", "two", "two"]);
  });

  test("request bodies stream through; chunked bodies over the route limit get 413", async () => {
    const body = Buffer.alloc(512 * 1024, 98);
    const ok = await request(`${gw.url}/echo`, { method: "POST", body });
    assert.equal(((await ok.body.json()) as Echo).bytes, body.length);

    const before = upstream.seen.length;
    const declared = await request(`${gw.url}/small`, { method: "POST", body: Buffer.alloc(2048) });
    assert.equal(declared.statusCode, 413);
    assert.equal(((await declared.body.json()) as { code: string }).code, "body_too_large");
    assert.equal(upstream.seen.length, before, "a declared oversize body never reaches the upstream");

    const chunked = await rawRequest(
      gw.port,
      `POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${"a".repeat(1024)}\r\n400\r\n${"a".repeat(1024)}\r\n0\r\n\r\n`,
    );
    assert.equal(chunked.status, 413);
    assert.match(chunked.headers["content-type"] ?? "", /application\/problem\+json/);
    assert.equal(chunked.closed, true, "the connection is closed since the rest of the body is unread");
  });

  test("responses stream: the first bytes arrive long before the upstream has finished", async () => {
    // /stream/100 sends 100 chunks 10 ms apart (about 1 s in all).
    const started = performance.now();
    const response = await request(`${gw.url}/stream/100`);
    let firstByteAt = 0;
    let bytes = 0;
    for await (const chunk of response.body) {
      if (firstByteAt === 0) firstByteAt = performance.now() - started;
      bytes += (chunk as Buffer).length;
    }
    const total = performance.now() - started;
    assert.equal(bytes, 100 * 1024);
    assert.ok(
      firstByteAt < total / 2,
      `first byte after ${firstByteAt} ms of ${total} ms: the body was buffered`,
    );
  });

  test("streamed responses arrive whole", async () => {
    const response = await request(`${gw.url}/stream/40`);
    const bytes = Buffer.from(await response.body.arrayBuffer());
    assert.equal(bytes.length, 40 * 1024);
  });

  test("an upstream whose only target failed its health check gives 503", async () => {
    const response = await request(`${gw.url}/dead`);
    assert.equal(response.statusCode, 503);
    assert.equal(((await response.body.json()) as { code: string }).code, "no_upstream_target");
  });

  test("an upstream that resets the connection gives 502 problem+json without internals", async () => {
    const reset = await request(`${gw.url}/reset`);
    assert.equal(reset.statusCode, 502);
    const text = await reset.body.text();
    assert.equal((JSON.parse(text) as { code: string }).code, "upstream_unavailable");
    assert.doesNotMatch(text, /127\.0\.0\.1|ECONNRESET|UND_ERR|at \w+ \(/);
  });

  test("a refused upstream gives 502 problem+json without internals, then 503 while the target is ejected", async () => {
    await vanishing.close();
    const refused = await request(`${gw.url}/vanishing`);
    assert.equal(refused.statusCode, 502);
    assert.match(String(refused.headers["content-type"]), /^application\/problem\+json/);
    const text = await refused.body.text();
    const problem = JSON.parse(text) as Record<string, unknown>;
    assert.equal(problem.code, "upstream_unavailable");
    assert.equal(problem.status, 502);
    assert.equal(problem.requestId, refused.headers["x-request-id"]);
    assert.doesNotMatch(
      text,
      /127\.0\.0\.1|ECONNREFUSED|at \w+ \(/,
      "no upstream address, error code or stack",
    );
    const ejected = await request(`${gw.url}/vanishing`);
    assert.equal(ejected.statusCode, 503);
    assert.equal(((await ejected.body.json()) as { code: string }).code, "no_upstream_target");
  });

  test("an upstream that does not answer in time gives 504", async () => {
    const response = await request(`${gw.url}/slow/delay/2000`);
    assert.equal(response.statusCode, 504);
    assert.equal(((await response.body.json()) as { code: string }).code, "upstream_timeout");
  });

  test("no route, bad paths, TRACE and long URLs get problems with stable codes", async () => {
    const cases: [string, string, number, string][] = [
      ["GET", "/a/../../etc/passwd", 400, "path_invalid"],
      ["GET", "/a\\b", 400, "path_invalid"],
      ["TRACE", "/", 405, "method_not_allowed"],
      ["GET", `/${"a".repeat(9000)}`, 414, "uri_too_long"],
    ];
    for (const [method, path, status, code] of cases) {
      const raw = await rawRequest(
        gw.port,
        `${method} ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(raw.status, status, `${method} ${path.slice(0, 30)}`);
      assert.equal((JSON.parse(raw.body) as { code: string }).code, code);
    }
  });

  test("dot segments are resolved before routing, so /api/../x is routed as /x", async () => {
    const raw = await rawRequest(
      gw.port,
      "GET /api/../echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert.equal(raw.status, 200);
    assert.equal(upstream.seen.at(-1)!.url, "/echo");
  });

  test("headers larger than the limit get 431", async () => {
    const raw = await rawRequest(
      gw.port,
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`,
    );
    assert.equal(raw.status, 431);
    assert.equal((JSON.parse(raw.body) as { code: string }).code, "headers_too_large");
  });

  test("one access log line per request, with route, status, duration and ids", async () => {
    const response = await request(`${gw.url}/api/echo`, { headers: { "x-request-id": "log-check-0001" } });
    await response.body.dump();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = gw.logs().find((entry) => entry.requestId === "log-check-0001");
    assert.ok(line, "access line written");
    assert.equal(line.type, "access");
    assert.equal(line.route, "api");
    assert.equal(line.upstream, "app");
    assert.equal(line.status, 200);
    assert.equal(line.clientIp, "127.0.0.1");
    assert.equal(typeof line.durationMs, "number");
    assert.equal(typeof line.traceId, "string");
    assert.ok(Number(line.bytesOut) > 0);
  });
});

describe("trusted proxies", () => {
  test("forwarding headers from a trusted peer are extended and name the real client", async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({
      upstreams: { app: { targets: [upstream.url] } },
      routes: [{ upstream: "app" }],
      server: { trustedProxies: ["127.0.0.1/32"] },
    });
    try {
      const response = await request(`${gw.url}/echo`, {
        headers: {
          "x-forwarded-for": "203.0.113.9",
          "x-forwarded-proto": "https",
          "x-request-id": "trusted-proxy-1",
        },
      });
      const echo = (await response.body.json()) as Echo;
      assert.equal(echo.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
      assert.equal(echo.headers["x-forwarded-proto"], "https");
      assert.equal(echo.headers["x-real-ip"], "203.0.113.9");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(gw.logs().find((entry) => entry.requestId === "trusted-proxy-1")?.clientIp, "203.0.113.9");
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
});
